"""Fixtures: a throwaway PostgreSQL, an RSA key with its JWKS on loopback, the app.

Set TASK_API_TEST_DATABASE_URL to use an existing server (the CI service)
instead of starting Debian's PostgreSQL. Without PostgreSQL binaries the tests
skip with the reason, unless GAUNTLET_REQUIRE_ALL=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

APP_DIR = Path(__file__).resolve().parent.parent
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

from task_api.app import create_app  # noqa: E402
from task_api.config import Settings  # noqa: E402
from task_api_dev.services import (  # noqa: E402
    ADMIN_ROLE,
    AUDIENCE,
    KID,
    JwksServer,
    PostgresServer,
    ServiceUnavailable,
    TokenFactory,
    pg_bindir,
    public_jwk,
)


def _missing(reason: str) -> None:
    if os.environ.get("GAUNTLET_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (GAUNTLET_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    external = os.environ.get("TASK_API_TEST_DATABASE_URL")
    if external:
        yield external
        return
    bindir = pg_bindir()
    if bindir is None:
        _missing("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        server = PostgresServer(bindir)
    except ServiceUnavailable as exc:
        _missing(str(exc))
    server.start_or_explain()
    try:
        yield server.dsn()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def jwks_server(signing_key: rsa.RSAPrivateKey) -> Iterator[JwksServer]:
    server = JwksServer()
    server.keys = [public_jwk(signing_key, KID)]
    yield server
    server.close()


@pytest.fixture(scope="session")
def tokens(signing_key: rsa.RSAPrivateKey, jwks_server: JwksServer) -> TokenFactory:
    return TokenFactory(signing_key, jwks_server.issuer)


@pytest.fixture(scope="session")
def public_pem(signing_key: rsa.RSAPrivateKey) -> bytes:
    return signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --------------------------------------------------------------------------- app


@pytest.fixture(scope="session")
def make_settings(database_url: str, jwks_server: JwksServer) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "oidc_issuer": jwks_server.issuer,
            "oidc_audience": AUDIENCE,
            "jwks_url": jwks_server.url,
            "admin_role": ADMIN_ROLE,
            "jwt_leeway": 10,
            "jwks_min_refresh_interval": 30,
            "db_pool_max": 5,
        }
        values.update(overrides)
        return Settings(**values)

    return factory


@pytest.fixture(scope="module")
def client(make_settings: Callable[..., Settings]):
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_settings())) as test_client:
        yield test_client


@pytest.fixture
def user() -> str:
    """A fresh subject per test, so tests never see each other's tasks."""
    return f"user-{uuid.uuid4()}"
