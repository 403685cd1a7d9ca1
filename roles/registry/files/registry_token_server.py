# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Token server of the gauntlet registry: per-account, per-repository access (stdlib only).

distribution's ``auth.token`` mode (docs/content/about/configuration.md, section ``token``)
sends every client without a valid bearer token to a token server; this is that server.
It follows distribution's token spec (docs/content/spec/auth/token.md, v3.1.1):

- ``GET /token?service=..&scope=..`` with HTTP basic credentials (docker, skopeo, kaniko,
  trivy, the collection's registry client) and ``POST /token`` with the OAuth2 password
  grant (docs/content/spec/auth/oauth.md; containerd tries it first when it has a password);
- the token carries the intersection of the requested actions and the account's granted
  actions; a partial or empty grant is not an error (the registry then refuses the request);
- tokens are JWTs (docs/content/spec/auth/jwt.md) signed RS256 with a certificate chain in
  the ``x5c`` header, which the registry checks against ``auth.token.rootcertbundle``
  (registry/auth/token/token.go, verifyCertChain) and claims ``iss``, ``aud``, ``exp``, ``nbf``.

The host runs this with Debian's python3 only (no third-party modules on a stock host), so
RSASSA-PKCS1-v1_5 signing (RFC 8017 section 8.2) is done here with Python integers: CRT,
blinding against timing, and a verification of every signature before it leaves.

Configuration: one JSON file (written by the registry role, templates/token-config.json.j2),
see ``load_config``. Passwords are stored as scrypt hashes (``hash_password``), never in clear.

The push record (``pushes`` in the configuration, optional): the registry sends its
notifications (``notifications.endpoints`` in config.yml; distribution v3.1.1
docs/content/about/notifications.md and notifications/event.go, the same envelope in v2.8:
``{"events": [{"id", "timestamp", "action", "target": {"mediaType", "digest", "repository",
"tag"}, "actor": {"name"}}]}``, media type ``application/vnd.docker.distribution.events.v2+json``)
to a second listener on loopback, with a bearer token. Every ``push`` of a manifest *by tag*
(``target.tag`` is set only then: notifications/bridge.go ManifestPushed, WithTagOption)
under the configured repositories is appended to a file (one JSON object a line, fsynced);
an event the registry sends again (same ``id``, its retrying sink re-sends after a failed
answer) is recorded once. ``GET /pushes?repository=..&tag=..`` on the main listener answers
with the recorded pushes of that tag, to an account that may pull the repository: the gitops
promoter deploys a tag only if it was pushed exactly once (roles/drone/files/gitops_promote.py).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fnmatch
import hashlib
import hmac
import http.server
import json
import math
import os
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse

# scrypt parameters of new hashes (RFC 7914): 16 MiB of memory, well under 100 ms a check.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
# DigestInfo prefix of SHA-256 for EMSA-PKCS1-v1_5 (RFC 8017 section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
# Tokens shorter than 60 s are not allowed by the spec (token.md, expires_in).
MIN_LIFETIME = 60
SCOPE_TYPES = ("repository", "registry")


class ConfigError(Exception):
    """The configuration file is unusable; the message says what to fix."""


# -- passwords --------------------------------------------------------------------------


def hash_password(password: str, salt: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$<n>$<r>$<p>$<salt>$<hex>``: the format of the accounts' ``password_hash``."""
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=64 << 20, dklen=32)
    return f"scrypt${n}${r}${p}${salt}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, _hex = stored.split("$")
        if scheme != "scrypt":
            return False
        computed = hash_password(password, salt, int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed.encode(), stored.encode())


# -- keys -------------------------------------------------------------------------------


def _pem_body(text: str, label: str) -> bytes | None:
    match = re.search(rf"-----BEGIN {label}-----(.*?)-----END {label}-----", text, re.S)
    if not match:
        return None
    try:
        return base64.b64decode("".join(match.group(1).split()), validate=True)
    except binascii.Error as exc:
        raise ConfigError(f"the {label} PEM block is not valid base64: {exc}") from exc


def _der_read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One DER element at ``pos``: (tag, content, position after it)."""
    if pos + 2 > len(data):
        raise ConfigError("truncated DER structure in the signing key")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ConfigError("unsupported DER length in the signing key")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ConfigError("truncated DER structure in the signing key")
    return tag, data[pos : pos + length], pos + length


def _der_sequence(data: bytes) -> list[tuple[int, bytes]]:
    tag, content, _end = _der_read(data, 0)
    if tag != 0x30:
        raise ConfigError("the signing key is not a DER SEQUENCE")
    items, pos = [], 0
    while pos < len(content):
        item_tag, item, pos = _der_read(content, pos)
        items.append((item_tag, item))
    return items


class RsaKey:
    """An RSA private key (PKCS#1 ``RSA PRIVATE KEY`` or unencrypted PKCS#8 ``PRIVATE KEY``)."""

    def __init__(self, pem: str):
        der = _pem_body(pem, "RSA PRIVATE KEY")
        if der is None:
            pkcs8 = _pem_body(pem, "PRIVATE KEY")
            if pkcs8 is None:
                raise ConfigError(
                    "the signing key is not an unencrypted RSA key in PEM (RSA PRIVATE KEY or PRIVATE KEY)"
                )
            items = _der_sequence(pkcs8)
            if len(items) < 3 or items[2][0] != 0x04:
                raise ConfigError("the PKCS#8 signing key has no private key octet string")
            der = items[2][1]
        ints = [int.from_bytes(v, "big") for t, v in _der_sequence(der) if t == 0x02]
        if len(ints) < 9:
            raise ConfigError("the signing key is not an RSA private key (PKCS#1 needs nine integers)")
        _version, self.n, self.e, self.d, self.p, self.q, self.dp, self.dq, self.qinv = ints[:9]
        if self.p * self.q != self.n or self.n.bit_length() < 2048:
            raise ConfigError("the signing key is inconsistent or shorter than 2048 bits")
        self.size = (self.n.bit_length() + 7) // 8

    def _private(self, m: int) -> int:
        # Blinding: the exponentiation never sees m itself (timing of pow() is data-dependent).
        while True:
            r = secrets.randbelow(self.n - 2) + 2
            if math.gcd(r, self.n) == 1:
                break
        blinded = (m * pow(r, self.e, self.n)) % self.n
        s1 = pow(blinded, self.dp, self.p)
        s2 = pow(blinded, self.dq, self.q)
        s = (s2 + self.q * ((self.qinv * (s1 - s2)) % self.p)) % self.n
        return (s * pow(r, -1, self.n)) % self.n

    def sign_rs256(self, message: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (JWS ``RS256``, RFC 7518 section 3.3)."""
        t = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
        em = b"\x00\x01" + b"\xff" * (self.size - len(t) - 3) + b"\x00" + t
        m = int.from_bytes(em, "big")
        s = self._private(m)
        if pow(s, self.e, self.n) != m:  # never hand out a faulty signature (it would leak the key)
            raise RuntimeError("RSA signature self-check failed")
        return s.to_bytes(self.size, "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# -- scopes and grants ------------------------------------------------------------------


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """``repository:gauntlet/x:pull,push`` -> (type, name, actions); None when malformed.

    The name is what lies between the first and the last colon (token.md, "scope").
    """
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    kind = kind.split("(", 1)[0]  # resource class, e.g. repository(plugin)
    return kind, name, [a for a in actions.split(",") if a]


def grant(access_rules: list[dict], kind: str, name: str, requested: list[str]) -> list[str]:
    """The requested actions the rules grant on (kind, name); ``*`` in a name matches any characters, ``/`` included."""
    allowed: set[str] = set()
    for rule in access_rules:
        if rule.get("type", "repository") == kind and fnmatch.fnmatchcase(name, rule["name"]):
            allowed.update(rule.get("actions", []))
    return [a for a in dict.fromkeys(requested) if a in allowed]


# -- push record ------------------------------------------------------------------------


class PushLog:
    """Manifest pushes by tag under ``repositories`` (patterns as in access rules), in a file."""

    def __init__(self, path: str, repositories: list[str]):
        self.path, self.repositories = path, list(repositories)
        self.lock = threading.Lock()
        self.records: list[dict] = []
        self.ids: set[str] = set()
        try:
            with open(path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
                        raise ConfigError(
                            f"{path} line {number} is not JSON ({exc}): move the file away to start a new record"
                        ) from exc
                    self.records.append(record)
                    self.ids.add(record.get("id", ""))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ConfigError(f"cannot read the push record {path}: {exc}") from exc

    def record(self, envelope) -> list[dict]:
        """Append the tag pushes of a notification envelope; the new records."""
        events = envelope.get("events") if isinstance(envelope, dict) else None
        if not isinstance(events, list):
            raise ValueError("not a notification envelope ({'events': [...]})")
        new: list[dict] = []
        with self.lock:
            for event in events:
                if not isinstance(event, dict) or event.get("action") != "push":
                    continue
                target = event.get("target") if isinstance(event.get("target"), dict) else {}
                repository, tag, digest = target.get("repository"), target.get("tag"), target.get("digest")
                if not all(isinstance(v, str) and v for v in (repository, tag, digest)):
                    continue  # a blob, or a manifest pushed by digest: no tag moved
                if not any(fnmatch.fnmatchcase(repository, p) for p in self.repositories):
                    continue
                event_id = str(event.get("id") or "")
                if event_id and event_id in self.ids:
                    continue
                actor = event.get("actor") if isinstance(event.get("actor"), dict) else {}
                new.append({
                    "id": event_id,
                    "repository": repository,
                    "tag": tag,
                    "digest": digest,
                    "mediaType": str(target.get("mediaType", "")),
                    "account": str(actor.get("name", "")),
                    "time": str(event.get("timestamp", "")),
                    "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                })  # fmt: skip
                self.ids.add(event_id)
            if new:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="utf-8") as handle:
                    handle.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in new))
                    handle.flush()
                    os.fsync(handle.fileno())
                self.records.extend(new)
        return new

    def pushes(self, repository: str, tag: str) -> list[dict]:
        with self.lock:
            return [dict(r) for r in self.records if r.get("repository") == repository and r.get("tag") == tag]


# -- configuration ----------------------------------------------------------------------


def load_config(path: str) -> dict:
    """Read and check the configuration; every problem is a ConfigError naming the key."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the token server configuration {path}: {exc}") from exc
    for key in ("service", "issuer", "listen", "signing_key", "signing_certificate", "accounts"):
        if key not in config:
            raise ConfigError(f"{path}: missing key {key!r}")
    if not isinstance(config["accounts"], dict):
        raise ConfigError(f"{path}: 'accounts' must map account names to {{password_hash, access}}")
    for name, account in config["accounts"].items():
        if not str(account.get("password_hash", "")).startswith("scrypt$"):
            raise ConfigError(f"{path}: account {name!r} has no scrypt password_hash")
        for rule in account.get("access", []):
            if rule.get("type", "repository") not in SCOPE_TYPES or not rule.get("name"):
                raise ConfigError(f"{path}: account {name!r} has an access rule without a valid type and name: {rule}")
    config.setdefault("lifetime", 300)
    if int(config["lifetime"]) < MIN_LIFETIME:
        raise ConfigError(f"{path}: 'lifetime' must be at least {MIN_LIFETIME} seconds")
    try:
        with open(config["signing_key"], encoding="ascii") as handle:
            config["_key"] = RsaKey(handle.read())
        with open(config["signing_certificate"], encoding="ascii") as handle:
            cert = _pem_body(handle.read(), "CERTIFICATE")
    except OSError as exc:
        raise ConfigError(f"cannot read the signing key or certificate: {exc}") from exc
    if cert is None:
        raise ConfigError(f"{config['signing_certificate']} holds no PEM certificate")
    config["_x5c"] = [base64.b64encode(cert).decode()]
    pushes = config.get("pushes")
    if pushes:
        for key in ("listen", "token_sha256", "store", "repositories"):
            if not pushes.get(key):
                raise ConfigError(f"{path}: 'pushes' needs {key!r}")
        if pushes["listen"].rpartition(":")[0] != "127.0.0.1":
            # Plain HTTP: the registry beside it posts there, nobody else needs to.
            raise ConfigError(f"{path}: pushes.listen must be a loopback address, got {pushes['listen']!r}")
        if not re.fullmatch(r"[0-9a-f]{64}", str(pushes["token_sha256"])):
            raise ConfigError(f"{path}: pushes.token_sha256 must be the sha256 hex digest of the registry's token")
        config["_pushes"] = PushLog(pushes["store"], pushes["repositories"])
    return config


class TokenIssuer:
    """Authentication, grants and signing, without HTTP (unit-testable)."""

    def __init__(self, config: dict, log=None):
        self.config = config
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))

    def authenticate(self, username: str | None, password: str | None) -> dict | None:
        account = self.config["accounts"].get(username or "")
        if account is None or password is None:
            # Same work as a real check, so unknown names do not answer faster.
            check_password(password or "", hash_password("", "unknown-account"))
            return None
        return account if check_password(password, account["password_hash"]) else None

    def access(self, account: dict, scopes: list[str]) -> list[dict]:
        granted: dict[tuple[str, str], list[str]] = {}
        for scope in scopes:
            for one in scope.split(" "):  # the POST form joins scopes with spaces
                parsed = parse_scope(one) if one else None
                if parsed is None:
                    continue
                kind, name, actions = parsed
                ok = grant(account.get("access", []), kind, name, actions)
                key = (kind, name)
                granted[key] = list(dict.fromkeys(granted.get(key, []) + ok))
        return [{"type": k, "name": n, "actions": a} for (k, n), a in granted.items()]

    def issue(self, subject: str, access: list[dict]) -> tuple[str, int, int]:
        now = int(time.time())
        lifetime = int(self.config["lifetime"])
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.config["_x5c"]}
        claims = {
            "iss": self.config["issuer"],
            "sub": subject,
            "aud": self.config["service"],
            "exp": now + lifetime,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.config["_key"].sign_rs256(signing_input.encode())
        return f"{signing_input}.{_b64url(signature)}", lifetime, now


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = raw.partition(":")
    return (user, password) if sep else (None, None)


def make_handler(issuer: TokenIssuer):
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "gauntlet-registry-token/1"
        sys_version = ""
        timeout = 30

        def setup(self):
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(self.timeout)
                self.request.do_handshake()
            super().setup()

        def log_message(self, format, *args):
            pass

        def _send(self, status: int, body: dict, extra: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, params: dict, username: str | None, password: str | None, oauth: bool) -> None:
            client = self.client_address[0]
            service = (params.get("service") or [""])[0]
            if service != issuer.config["service"]:
                issuer.log(f"refused {client}: unknown service {service!r}")
                self._send(400, {"errors": [{"code": "DENIED", "message": f"unknown service {service!r}"}]})
                return
            account = issuer.authenticate(username, password)
            if account is None:
                issuer.log(f"refused {client}: bad credentials for account {username!r}")
                self._send(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
                    {"WWW-Authenticate": 'Basic realm="gauntlet-registry-token"'},
                )
                return
            access = issuer.access(account, params.get("scope", []))
            token, lifetime, now = issuer.issue(username, access)
            issuer.log(
                f"issued {username!r} to {client}: "
                + (" ".join(f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access) or "no access")
            )
            issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            body = {"token": token, "access_token": token, "expires_in": lifetime, "issued_at": issued_at}
            if oauth:
                body["scope"] = " ".join(params.get("scope", []))
            self._send(200, body)

        def _pushes(self, params: dict) -> None:
            log = issuer.config.get("_pushes")
            if log is None:
                self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "no push record is kept"}]})
                return
            repository, tag = (params.get("repository") or [""])[0], (params.get("tag") or [""])[0]
            username, password = _basic_credentials(self.headers.get("Authorization"))
            account = issuer.authenticate(username, password)
            if account is None or not grant(account.get("access", []), "repository", repository, ["pull"]):
                issuer.log(f"refused {self.client_address[0]}: push record of {repository!r} for {username!r}")
                self._send(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "an account that may pull the repository"}]},
                    {"WWW-Authenticate": 'Basic realm="gauntlet-registry-token"'},
                )
                return
            if not tag:
                self._send(400, {"errors": [{"code": "BAD_REQUEST", "message": "repository and tag are required"}]})
                return
            self._send(200, {"repository": repository, "tag": tag, "pushes": log.pushes(repository, tag)})

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/pushes":
                self._pushes(urllib.parse.parse_qs(url.query))
                return
            if url.path != "/token":
                self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "only /token is served"}]})
                return
            params = urllib.parse.parse_qs(url.query)
            username, password = _basic_credentials(self.headers.get("Authorization"))
            self._answer(params, username, password, oauth=False)

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if url.path != "/token" or length > 65536:
                self._send(404, {"errors": [{"code": "NOT_FOUND", "message": "only /token is served"}]})
                return
            form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            if (form.get("grant_type") or [""])[0] != "password":
                # containerd falls back to GET with basic auth on 400 (remotes/docker/authorizer.go).
                self._send(400, {"error": "unsupported_grant_type"})
                return
            self._answer(form, (form.get("username") or [None])[0], (form.get("password") or [None])[0], oauth=True)

    return Handler


def make_events_handler(issuer: TokenIssuer):
    """The registry's notifications (POST /events with its bearer token): the push record."""
    pushes = issuer.config["pushes"]
    log: PushLog = issuer.config["_pushes"]

    class EventsHandler(http.server.BaseHTTPRequestHandler):
        server_version = "gauntlet-registry-token/1"
        sys_version = ""
        timeout = 30

        def log_message(self, format, *args):
            pass

        def _send(self, status: int, message: str) -> None:
            data = json.dumps({"message": message}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            header = self.headers.get("Authorization") or ""
            sent = header[7:].strip() if header.lower().startswith("bearer ") else ""
            digest = hashlib.sha256(sent.encode()).hexdigest()
            if not sent or not hmac.compare_digest(digest, pushes["token_sha256"]):
                issuer.log(f"refused notification from {self.client_address[0]}: wrong or missing bearer token")
                self._send(401, "the registry's bearer token is required")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if urllib.parse.urlsplit(self.path).path != "/events" or length > 16 << 20:
                self._send(404, "only POST /events is served")
                return
            try:
                new = log.record(json.loads(self.rfile.read(length) or b"{}"))
            except (ValueError, UnicodeDecodeError) as exc:
                self._send(400, f"not a notification envelope: {exc}")
                return
            except OSError as exc:
                # The registry retries: nothing is lost while it runs.
                issuer.log(f"cannot write the push record {log.path}: {exc}")
                self._send(503, "the push record cannot be written")
                return
            for record in new:
                issuer.log(
                    f"push of {record['repository']}:{record['tag']} = {record['digest']}"
                    f" by {record['account']!r} at {record['time']}"
                )
            self._send(200, f"{len(new)} push(es) recorded")

    return EventsHandler


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        print(
            f"gauntlet-registry-token: connection from {client_address[0]} failed: {sys.exc_info()[1]}", file=sys.stderr
        )


def serve(config: dict) -> http.server.ThreadingHTTPServer:
    host, _unused, port = config["listen"].rpartition(":")
    httpd = _Server((host or "0.0.0.0", int(port)), make_handler(TokenIssuer(config)))  # noqa: S104 - the configured address
    tls = config.get("tls")
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls["certificate"], tls["key"])
        # The handshake happens in the request's thread, not in the accept loop.
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    httpd.events = None
    if config.get("_pushes") is not None:
        host, _unused, port = config["pushes"]["listen"].rpartition(":")
        httpd.events = _Server((host, int(port)), make_events_handler(TokenIssuer(config)))
    return httpd


def serve_all(httpd) -> None:
    """Serve the token listener and, when configured, the events listener (a thread)."""
    if httpd.events is not None:
        threading.Thread(target=httpd.events.serve_forever, daemon=True).start()
    httpd.serve_forever()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} CONFIG.json", file=sys.stderr)
        return 2
    try:
        config = load_config(argv[1])
        httpd = serve(config)
    except (ConfigError, OSError, ssl.SSLError) as exc:
        print(f"gauntlet-registry-token: {exc}", file=sys.stderr)
        return 1
    print(
        f"gauntlet-registry-token: serving {len(config['accounts'])} account(s) on {config['listen']}"
        f" ({'https' if config.get('tls') else 'http'})"
        + (f", notifications on {config['pushes']['listen']}" if config.get("pushes") else ""),
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve_all(httpd)
    return 0


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main(sys.argv))
