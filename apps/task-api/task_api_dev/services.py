"""Local stand-ins for the platform's services, shared by the tests and the benchmark.

- :class:`PostgresServer`: Debian's PostgreSQL in a temp dir, on a unix socket only
  (no TCP listener, trust auth: the socket directory is private, mode 0700, so
  no password is needed or invented). As root it runs as ``postgres`` because
  PostgreSQL refuses root.
- :class:`JwksServer`: a JWKS document on 127.0.0.1, like Keycloak's certs endpoint,
  over HTTP or, with :func:`make_tls_material`, over HTTPS from a private test CA.
- :class:`TokenFactory`: RS256 tokens shaped like Keycloak's access tokens.

Nothing here is shipped in the image (see .dockerignore).
"""

from __future__ import annotations

import base64
import glob
import json
import os
import pwd
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "task-api"
# The client Keycloak issues the test tokens to (the keycloak role's task-api-cli): the `azp` claim.
CLI_CLIENT = "task-api-cli"
KID = "test-key-1"
ADMIN_ROLE = "task-admin"


class ServiceUnavailable(RuntimeError):
    """A local service cannot run here (binaries or the postgres user missing)."""


def pg_bindir() -> Path | None:
    """Debian keeps the server tools in /usr/lib/postgresql/<major>/bin (newest wins), off PATH."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    # Symlinks on PATH point into the real bindir, where pg_ctl and createdb live too.
    return Path(initdb).resolve().parent if initdb else None


class PostgresServer:
    """A private cluster: initdb, start, createdb, and remove everything on stop."""

    def __init__(self, bindir: Path, *, listen_addresses: str = "", port: int = 5432) -> None:
        self.bindir = bindir
        # TCP as well as the socket only when asked (tests/keycloak_server.py: Keycloak's JDBC
        # driver speaks TCP only; that server lives in a loopback-only network namespace).
        self.listen_addresses = listen_addresses
        self.port = port
        # Prepended to every command, e.g. ["ip", "netns", "exec", <name>] to start the
        # server inside a network namespace.
        self.prefix: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="task-api-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.runas: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise ServiceUnavailable(
                    "running as root and there is no 'postgres' user to run PostgreSQL as"
                ) from None
            if runuser is None:
                raise ServiceUnavailable("running as root and runuser is not available to drop to 'postgres'")
            self.runas = [runuser, "-u", "postgres", "--"]
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.socket_dir.mkdir(mode=0o700)
        if self.runas:
            os.chown(self.socket_dir, pw.pw_uid, pw.pw_gid)
        self.user = "postgres" if self.runas else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [*self.prefix, *self.runas, *args], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stdout}\n{result.stderr}")

    def start(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",  # only reachable through the private socket directory
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )
        options = (
            f"-c listen_addresses='{self.listen_addresses}' -c port={self.port} "
            f"-c unix_socket_directories={self.socket_dir} "
            "-c unix_socket_permissions=0700 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        self._options = options
        self.start_server()
        self.createdb("task_api")

    def start_server(self) -> None:
        """Start the (already initialised) cluster and wait until it accepts connections."""
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            self._options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop_server(self, mode: str = "fast", *, wait: bool = True) -> None:
        """Stop without removing the cluster (``start_server`` brings it back).

        ``smart`` without waiting leaves PostgreSQL shutting down while sessions
        remain: new connections are refused with SQLSTATE 57P03.
        """
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w" if wait else "-W", "stop")

    def createdb(self, name: str) -> None:
        self._run(
            str(self.bindir / "createdb"), "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, name
        )

    def dsn(self, database: str = "task_api") -> str:
        port = "" if self.port == 5432 else f"&port={self.port}"
        return f"postgresql://{self.user}@/{database}?host={self.socket_dir}{port}"

    def start_or_explain(self) -> None:
        """Start; on failure stop, clean up and raise with the server log attached."""
        try:
            self.start()
        except Exception as exc:
            log = self.root / "server.log"
            detail = log.read_text() if log.exists() else ""
            self.stop()
            raise RuntimeError(f"could not start the test PostgreSQL: {exc}\n{detail}") from None

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():  # a test may have stopped it already
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------- JWKS


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": _b64(numbers.n), "e": _b64(numbers.e)}


@dataclass(frozen=True)
class TlsMaterial:
    """A private CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_tls_material(directory: Path) -> TlsMaterial:
    """A throwaway CA (like the platform's local CA) and a 127.0.0.1 server certificate."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "task-api test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    material = TlsMaterial(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    material.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    material.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    material.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    material.key_file.chmod(0o600)
    return material


class JwksServer:
    """Serves a mutable JWKS on 127.0.0.1 and counts fetches (HTTPS with ``tls``)."""

    def __init__(self, tls: TlsMaterial | None = None) -> None:
        self.keys: list[dict[str, str]] = []
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(tls.cert_file, tls.key_file)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        host, port = self.httpd.server_address[:2]
        self.issuer = f"{scheme}://{host}:{port}/realms/test"
        self.url = f"{self.issuer}/protocol/openid-connect/certs"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class TokenFactory:
    def __init__(self, key: rsa.RSAPrivateKey, issuer: str) -> None:
        self.key = key
        self.issuer = issuer

    def claims(self, subject: str, roles: list[str] | None = None, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "azp": CLI_CLIENT,
            "sub": subject,
            "iat": now,
            "exp": now + 300,
            "typ": "Bearer",
            "preferred_username": subject[:8],
            "realm_access": {"roles": roles or []},
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self, subject: str, roles: list[str] | None = None, *, kid: str = KID, key: Any = None, **overrides: Any
    ) -> str:
        return jwt.encode(
            self.claims(subject, roles, **overrides), key or self.key, algorithm="RS256", headers={"kid": kid}
        )

    def headers(self, subject: str, roles: list[str] | None = None, **overrides: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, roles, **overrides)}"}
