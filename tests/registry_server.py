"""Real registries (Debian's docker-registry) on loopback, for the registry fixtures of tests/conftest.py.

Registries listen on 127.0.0.1 random free ports with temporary storage and a
config file written here: plain HTTP, htpasswd auth, TLS with a CA and server
certificate generated with ``cryptography``, or bearer tokens from a TokenServer.
Missing binaries skip the tests with the reason, unless GAUNTLET_REQUIRE_ALL=1
(CI), where they fail. The images they serve: tests/oci_images.py.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from needs import missing
from tls_material import make_ca_and_cert

REGISTRY_BIN = "/usr/bin/docker-registry"


def need_binary(name: str, path: str | None = None) -> str:
    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if not found:
        missing(f"{name} is not installed (Debian package listed in scripts/apt-packages.d/images.txt)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- registry -----------------------------------------------------------------


class Registry:
    """A docker-registry process with its own storage and config."""

    def __init__(self, workdir: Path, *, auth: bool = False, tls: bool = False):
        self.binary = need_binary("docker-registry", REGISTRY_BIN)
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = workdir / "storage"
        self.tls = tls
        self.username = self.password = None
        self.ca_file = None
        self.proc = None
        lines = [
            "version: 0.1",
            "log: {level: error, accesslog: {disabled: true}}",
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, delete: {{enabled: true}}}}",
            "http:",
            f"  addr: {self.host}",
            "  secret: gauntlet-test-secret",
        ]
        if tls:
            (workdir / "tls").mkdir()
            (workdir / "ca").mkdir()
            _ca, cert, key = make_ca_and_cert(workdir / "tls")
            self.ca_file = workdir / "ca" / "ca.crt"
            shutil.copy(_ca, self.ca_file)
            lines.append(f"  tls: {{certificate: {cert}, key: {key}}}")
        if auth:
            need_binary("htpasswd")
            self.username, self.password = "gauntlet", "s3cret-pass"
            htpasswd = workdir / "htpasswd"
            out = subprocess.run(
                ["htpasswd", "-Bbn", self.username, self.password], check=True, capture_output=True, text=True
            ).stdout
            htpasswd.write_text(out)
            lines.append(f"auth: {{htpasswd: {{realm: gauntlet, path: {htpasswd}}}}}")
        self.config = workdir / "config.yml"
        self.config.write_text("\n".join(lines) + "\n")
        self.start()

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def start(self) -> None:
        self.log = open(self.workdir / "registry.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [self.binary, "serve", str(self.config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(self.workdir / 'registry.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start listening within 15 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc:
            self.log.close()
        self.proc = None

    def client_kwargs(self, **extra) -> dict:
        kwargs = {
            "plain_http": not self.tls,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "retries": 1,
            "backoff": 0.05,
            "timeout": 30,
        }
        if self.username:
            kwargs.update(username=self.username, password=self.password)
        kwargs.update(extra)
        return kwargs

    def skopeo_args(self) -> list[str]:
        args = ["--tls-verify=false"] if not self.tls else [f"--cert-dir={self.ca_file.parent}"]
        if self.username:
            args.append(f"--creds={self.username}:{self.password}")
        return args

    def inspect_raw(self, ref: str) -> bytes:
        """The manifest as skopeo (a peer client) sees it."""
        skopeo = need_binary("skopeo")
        proc = subprocess.run(
            [skopeo, "inspect", "--raw", *self.skopeo_args(), f"docker://{self.host}/{ref}"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, f"skopeo inspect {ref} failed: {proc.stderr.decode()}"
        return proc.stdout

    def _open(self, path: str, method: str = "GET", accept: str | None = None):
        req = urllib.request.Request(f"{self.scheme}://{self.host}{path}", method=method)  # noqa: S310 - http(s) to the test registry
        if accept:
            req.add_header("Accept", accept)
        if self.username:
            req.add_header(
                "Authorization", "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            )
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else None
        return urllib.request.urlopen(req, context=context)  # noqa: S310 - http(s) to the test registry

    def catalog(self) -> list[str]:
        with self._open("/v2/_catalog") as resp:
            return json.load(resp)["repositories"]

    def has_manifest(self, repo: str, ref: str) -> bool:
        try:
            with self._open(
                f"/v2/{repo}/manifests/{ref}",
                "HEAD",
                "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json",
            ):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise


# -- bearer-token auth --------------------------------------------------------


class TokenServer:
    """A minimal token service for docker-registry's ``auth.token``: issues ES256 JWTs with an x5c chain."""

    def __init__(self, workdir: Path, username: str, password: str):
        import base64 as b64
        import http.server
        import threading
        import urllib.parse

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        from cryptography.x509.oid import NameOID

        self.username, self.password = username, password
        self.service, self.issuer = "gauntlet-registry", "gauntlet-token-issuer"
        self.issued: list[list[str]] = []
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gauntlet token signer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        self.bundle = workdir / "token-signer.crt"
        self.bundle.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        x5c = b64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()

        def enc(data: bytes) -> str:
            return b64.urlsafe_b64encode(data).rstrip(b"=").decode()

        def issue(subject: str, scopes: list[str]) -> str:
            access = []
            for scope in scopes:
                kind, _unused, rest = scope.partition(":")
                repo, _unused, actions = rest.rpartition(":")
                access.append({"type": kind, "name": repo, "actions": actions.split(",")})
            t = int(time.time())
            header = enc(json.dumps({"alg": "ES256", "typ": "JWT", "x5c": [x5c]}).encode())
            claims = enc(
                json.dumps(
                    {
                        "iss": self.issuer,
                        "sub": subject,
                        "aud": self.service,
                        "exp": t + 300,
                        "nbf": t - 10,
                        "iat": t,
                        "jti": os.urandom(8).hex(),
                        "access": access,
                    }
                ).encode()
            )
            r, s = decode_dss_signature(key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256())))
            return f"{header}.{claims}.{enc(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                expected = "Basic " + b64.b64encode(f"{server.username}:{server.password}".encode()).decode()
                if self.headers.get("Authorization") != expected or query.get("service") != [server.service]:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                scopes = query.get("scope", [])
                server.issued.append(scopes)
                body = json.dumps({"token": issue(server.username, scopes), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def start_token_registry(workdir: Path) -> Registry:
    """A docker-registry with bearer-token auth backed by a TokenServer (``.tokens``); stop both."""
    need_binary("docker-registry", REGISTRY_BIN)
    workdir.mkdir()
    tokens = TokenServer(workdir, "gauntlet", "t0ken-pass")
    reg = Registry.__new__(Registry)
    reg.binary = REGISTRY_BIN
    reg.workdir, reg.port = workdir, free_port()
    reg.host, reg.storage, reg.tls, reg.ca_file, reg.proc = (
        f"127.0.0.1:{reg.port}",
        workdir / "storage",
        False,
        None,
        None,
    )
    reg.username, reg.password = tokens.username, tokens.password
    reg.config = workdir / "config.yml"
    reg.config.write_text(
        "version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {reg.storage}}}}}\n"
        f"http: {{addr: {reg.host}, secret: gauntlet-test-secret}}\n"
        f"auth: {{token: {{realm: '{tokens.realm}', service: {tokens.service}, issuer: {tokens.issuer}, rootcertbundle: {tokens.bundle}}}}}\n"
    )
    reg.start()
    reg.tokens = tokens
    return reg
