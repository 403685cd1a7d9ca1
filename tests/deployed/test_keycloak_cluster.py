"""Keycloak on a running platform: the issuer, and tokens for the Task API.

Needs the platform applied (playbooks/platform.yml) and this controller's view of it:
KUBECONFIG set, https://keycloak.local resolvable (local_domains_manage_controller), and
the inventory's credentials folder in GAUNTLET_CREDENTIALS_DIR (default
inventory/lab/credentials). KEYCLOAK_URL overrides https://keycloak.local.
"""

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"), reason="needs a cluster: set KUBECONFIG to the platform's kubeconfig"
    ),
]

REPO = Path(__file__).resolve().parents[2]
CREDENTIALS = Path(os.environ.get("GAUNTLET_CREDENTIALS_DIR", REPO / "inventory/lab/credentials"))
KEYCLOAK = os.environ.get("KEYCLOAK_URL", "https://keycloak.local")
REALM = "gauntlet"
ISSUER = f"{KEYCLOAK}/realms/{REALM}"


def credential(name: str) -> str:
    path = CREDENTIALS / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: set GAUNTLET_CREDENTIALS_DIR to the inventory's credentials folder")
    return path.read_text().strip()


@pytest.fixture(scope="module")
def tls():
    credential("ca/ca.crt")  # fails with the fix when the folder is not the inventory's
    return ssl.create_default_context(cafile=str(CREDENTIALS / "ca/ca.crt"))


def call(tls, url, form=None):
    """(status, JSON body) of a GET, or of a form POST when `form` is given."""
    assert url.startswith("https://"), f"{url}: Keycloak is only reached over verified TLS"
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), context=tls, timeout=30) as response:  # noqa: S310 (https only)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture(scope="module")
def discovery(tls):
    status, body = call(tls, f"{ISSUER}/.well-known/openid-configuration")
    assert status == 200, body
    return body


def claims_of(token: str) -> dict:
    from ansible_collections.gauntlet.platform.plugins.filter.jwt_claims import jwt_claims

    return jwt_claims(token)


def test_issuer_is_the_contract(discovery):
    assert discovery["issuer"] == ISSUER


def test_test_user_token_is_meant_for_the_task_api(tls, discovery):
    status, body = call(
        tls,
        discovery["token_endpoint"],
        {
            "grant_type": "password",
            "client_id": "task-api-cli",
            "username": "tester",
            "password": credential("keycloak/test-user-password"),
            "scope": "openid",
        },
    )
    assert status == 200, body
    claims = claims_of(body["access_token"])
    assert claims["iss"] == ISSUER
    assert "task-api" in ([claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"])
    assert claims["azp"] == "task-api-cli"
    assert "task-admin" in claims["realm_access"]["roles"]
    assert claims["exp"] - claims["iat"] <= 300

    # The signature verifies with the realm's published keys (what the Task API does).
    jwt = pytest.importorskip("jwt")
    key = jwt.PyJWKClient(discovery["jwks_uri"], ssl_context=tls).get_signing_key_from_jwt(body["access_token"])
    jwt.decode(body["access_token"], key.key, algorithms=["RS256"], audience="task-api", issuer=ISSUER)


def test_service_account_token_of_the_task_api_client(tls, discovery):
    status, body = call(
        tls,
        discovery["token_endpoint"],
        {
            "grant_type": "client_credentials",
            "client_id": "task-api",
            "client_secret": credential("keycloak/client-task-api"),
        },
    )
    assert status == 200, body
    assert "task-api" in claims_of(body["access_token"])["aud"]


@pytest.mark.parametrize("client", ["grafana", "argocd"])
def test_web_clients_refuse_the_password_grant(tls, discovery, client):
    status, body = call(
        tls,
        discovery["token_endpoint"],
        {
            "grant_type": "password",
            "client_id": client,
            "client_secret": credential(f"keycloak/client-{client}"),
            "username": "tester",
            "password": credential("keycloak/test-user-password"),
        },
    )
    assert status in (400, 401) and body.get("error") == "unauthorized_client", body


def test_wrong_password_is_refused(tls, discovery):
    status, body = call(
        tls,
        discovery["token_endpoint"],
        {"grant_type": "password", "client_id": "task-api-cli", "username": "tester", "password": "not-the-password"},
    )
    assert status == 401 and body.get("error") == "invalid_grant", body
