"""Configuration from the environment.

Every setting is a ``TASK_API_*`` variable. Required values have no default on
purpose: a database URL or an issuer that silently falls back to something
would hide a broken deployment. All problems are reported at once so an operator
fixes the manifest in one round.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PREFIX = "TASK_API_"


class ConfigError(ValueError):
    """The environment does not describe a usable configuration."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    oidc_issuer: str
    oidc_audience: str = "task-api"
    # The clients whose tokens may call the API (`azp`): the API's own service account and the
    # keycloak role's CLI client. Another client's token can carry aud task-api (Keycloak's
    # audience-resolve mapper adds it once the user holds a task-api client role).
    oidc_authorized_parties: tuple[str, ...] = ("task-api", "task-api-cli")
    jwks_url: str = ""
    jwks_ca_file: str | None = None
    jwt_leeway: float = 30.0
    jwks_refresh_interval: float = 300.0
    jwks_min_refresh_interval: float = 30.0
    jwks_timeout: float = 5.0
    max_token_bytes: int = 8192
    token_cache_size: int = 4096
    admin_role: str = "task-admin"
    db_pool_min: int = 1
    db_pool_max: int = 10
    db_command_timeout: float = 5.0
    migrate_on_startup: bool = True
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen on its pod IP
    port: int = 8000
    log_level: str = "INFO"
    access_log: bool = True
    log_flush_interval: float = 0.25
    shutdown_timeout: int = 20

    def __post_init__(self) -> None:
        if not self.jwks_url:
            # Keycloak publishes the realm keys at a fixed path below the issuer.
            object.__setattr__(self, "jwks_url", self.oidc_issuer.rstrip("/") + "/protocol/openid-connect/certs")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        errors: list[str] = []
        values: dict[str, object] = {}

        def raw(name: str) -> str | None:
            value = env.get(PREFIX + name)
            return value.strip() if value is not None and value.strip() != "" else None

        def required(name: str, attr: str) -> None:
            value = raw(name)
            if value is None:
                errors.append(f"{PREFIX}{name} is required and not set")
            else:
                values[attr] = value

        def optional(name: str, attr: str, kind: type, minimum: float | None = None) -> None:
            value = raw(name)
            if value is None:
                return
            try:
                if kind is bool:
                    lowered = value.lower()
                    if lowered not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                        raise ValueError(value)
                    parsed: object = lowered in {"1", "true", "yes", "on"}
                else:
                    parsed = kind(value)
            except ValueError:
                errors.append(f"{PREFIX}{name}={value!r} is not a valid {kind.__name__}")
                return
            if minimum is not None and parsed < minimum:  # type: ignore[operator]
                errors.append(f"{PREFIX}{name}={value!r} must be at least {minimum}")
                return
            values[attr] = parsed

        required("DATABASE_URL", "database_url")
        required("OIDC_ISSUER", "oidc_issuer")
        optional("OIDC_AUDIENCE", "oidc_audience", str)
        parties = raw("OIDC_AUTHORIZED_PARTIES")
        if parties is not None:
            names = tuple(name.strip() for name in parties.split(",") if name.strip())
            if names:
                values["oidc_authorized_parties"] = names
            else:
                errors.append(
                    f"{PREFIX}OIDC_AUTHORIZED_PARTIES={env[PREFIX + 'OIDC_AUTHORIZED_PARTIES']!r} names no client"
                )
        optional("JWKS_URL", "jwks_url", str)
        optional("JWKS_CA_FILE", "jwks_ca_file", str)
        optional("JWT_LEEWAY", "jwt_leeway", float, 0)
        optional("JWKS_REFRESH_INTERVAL", "jwks_refresh_interval", float, 1)
        optional("JWKS_MIN_REFRESH_INTERVAL", "jwks_min_refresh_interval", float, 0)
        optional("JWKS_TIMEOUT", "jwks_timeout", float, 0.1)
        optional("MAX_TOKEN_BYTES", "max_token_bytes", int, 256)
        optional("TOKEN_CACHE_SIZE", "token_cache_size", int, 0)
        optional("ADMIN_ROLE", "admin_role", str)
        optional("DB_POOL_MIN", "db_pool_min", int, 0)
        optional("DB_POOL_MAX", "db_pool_max", int, 1)
        optional("DB_COMMAND_TIMEOUT", "db_command_timeout", float, 0.1)
        optional("MIGRATE_ON_STARTUP", "migrate_on_startup", bool)
        optional("HOST", "host", str)
        optional("PORT", "port", int, 1)
        optional("LOG_LEVEL", "log_level", str)
        optional("ACCESS_LOG", "access_log", bool)
        optional("LOG_FLUSH_INTERVAL", "log_flush_interval", float, 0)
        optional("SHUTDOWN_TIMEOUT", "shutdown_timeout", int, 0)

        db_url = values.get("database_url")
        if isinstance(db_url, str) and not db_url.startswith(("postgresql://", "postgres://")):
            errors.append(f"{PREFIX}DATABASE_URL must be a postgresql:// URL")
        issuer = values.get("oidc_issuer")
        if isinstance(issuer, str) and not issuer.startswith(("https://", "http://")):
            errors.append(f"{PREFIX}OIDC_ISSUER must be an http(s) URL, e.g. https://keycloak.local/realms/gauntlet")
        ca_file = values.get("jwks_ca_file")
        if isinstance(ca_file, str):
            # Checked here: ssl would otherwise fail at start with a bare traceback.
            try:
                with open(ca_file, encoding="ascii", errors="replace") as handle:
                    pem = handle.read()
            except OSError as exc:
                errors.append(
                    f"{PREFIX}JWKS_CA_FILE={ca_file!r} cannot be read ({exc.strerror}); mount the CA file there"
                )
            else:
                if "-----BEGIN CERTIFICATE-----" not in pem:
                    errors.append(f"{PREFIX}JWKS_CA_FILE={ca_file!r} holds no PEM certificate")
        level = values.get("log_level")
        if isinstance(level, str):
            values["log_level"] = level.upper()
            if values["log_level"] not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
                errors.append(f"{PREFIX}LOG_LEVEL={level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        pool_min = values.get("db_pool_min", cls.db_pool_min)
        pool_max = values.get("db_pool_max", cls.db_pool_max)
        if isinstance(pool_min, int) and isinstance(pool_max, int) and pool_min > pool_max:
            errors.append(f"{PREFIX}DB_POOL_MIN ({pool_min}) must not exceed {PREFIX}DB_POOL_MAX ({pool_max})")

        if errors:
            raise ConfigError("invalid Task API configuration: " + "; ".join(errors))
        return cls(**values)  # type: ignore[arg-type]
