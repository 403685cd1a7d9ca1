# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""A registry client for the OCI distribution spec (Docker Registry HTTP API v2).

- Auth: HTTP basic, and the bearer-token flow (``WWW-Authenticate: Bearer
  realm=...,service=...,scope=...``; tokens cached per scope set).
- TLS with the system trust store or a custom CA file; plain HTTP only when
  ``plain_http`` is set explicitly.
- Blobs: ``HEAD`` before every upload, cross-repository mount
  (``POST ...?mount=<digest>&from=<repo>``), monolithic ``PUT`` uploads and
  chunked ``PATCH`` uploads for blobs above ``monolithic_max`` (or when a
  monolithic upload is refused with 413). Bodies are streamed in 1 MiB pieces
  and hashed on the fly; a digest mismatch is reported by name.
- Retries with exponential backoff on connection errors, 408, 429 and 5xx:
  ``retries`` + 1 attempts per request, one budget (an upload is one request:
  its session start and body are retried together, from a fresh reader, never
  one inside the other). A failed upload closes its session (``DELETE``).
- A scheme mismatch (``plain_http`` against a TLS registry, TLS against a
  plain-HTTP one) is reported at once with the fix, never retried.
- One keep-alive connection per thread, so callers may use a thread pool.
- HTTP(S) proxies from the standard environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``;
  urllib's rules, as ``ansible.builtin.get_url`` applies them): see ``http_proxy``. Every
  connection goes that way: the registry's API, its token service, redirects to blob storage.

Stdlib only.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import random
import re
import ssl
import threading
import time
import urllib.parse

from ansible_collections.gauntlet.platform.plugins.module_utils.registry import http_proxy
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    ACCEPT_MANIFESTS,
    READ_SIZE,
    ContentError,
    DigestMismatchError,
    VerifyingReader,
    sha256_digest,
)

USER_AGENT = "gauntlet.platform-registry-client/1"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_MONOLITHIC_MAX = 1 << 30
DEFAULT_CHUNK_SIZE = 64 << 20
# What a TLS server answers to plain HTTP: Go's net/http ((*conn).serve writes "400 Bad Request" with
# "Client sent an HTTP request to an HTTPS server."; distribution's registry is a Go server, checked
# against Debian's docker-registry in tests/integration/test_image_engine.py) and nginx ("The plain HTTP
# request was sent to HTTPS port").
PLAIN_TO_TLS_ANSWERS = (
    b"Client sent an HTTP request to an HTTPS server",
    b"The plain HTTP request was sent to HTTPS port",
)
# OpenSSL's reasons when the "TLS record" it reads is plain text (an HTTP server's answer to a ClientHello):
# WRONG_VERSION_NUMBER (OpenSSL 1.1/3.0, Debian 12), RECORD_LAYER_FAILURE / PACKET_LENGTH_TOO_LONG (later).
TLS_TO_PLAIN_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"})


class RegistryError(Exception):
    """A registry operation failed; the message says what to do."""

    def __init__(self, msg: str, status: int | None = None, code: str | None = None):
        super().__init__(msg)
        self.status = status
        self.code = code


class RegistryAuthError(RegistryError):
    """Missing or wrong credentials, or access denied."""


class TransientError(RegistryError):
    """A failure worth retrying (connection lost, 5xx, 429)."""


def _parse_challenge(header: str) -> tuple[str, dict]:
    scheme, _unused, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def _error_detail(body: bytes) -> tuple[str | None, str]:
    try:
        errors = json.loads(body).get("errors") or []
        if errors:
            first = errors[0]
            return first.get("code"), "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError):
        pass
    text = body[:200].decode("utf-8", "replace").strip()
    return None, text


class _Response:
    """A fully-handled response: status, headers, body (unless streamed)."""

    def __init__(self, status: int, headers, body: bytes = b"", raw=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.raw = raw

    def header(self, name: str, default=None):
        return self.headers.get(name, default)


class RegistryClient:
    """Talk to one registry (host[:port])."""

    def __init__(
        self,
        registry: str,
        *,
        plain_http: bool = False,
        ca_file: str | None = None,
        validate_certs: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 120.0,
        retries: int = 4,
        backoff: float = 0.5,
        monolithic_max: int = DEFAULT_MONOLITHIC_MAX,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        api_host: str | None = None,
    ):
        self.registry = registry
        self.host = api_host or registry
        self.scheme = "http" if plain_http else "https"
        self.username = username
        self.password = password
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.monolithic_max = monolithic_max
        self.chunk_size = chunk_size
        self._local = threading.local()
        self._auth_lock = threading.Lock()
        self._challenge: tuple[str, dict] | None = None
        self._tokens: dict[tuple, str] = {}
        self._proxies: dict[tuple[str, str], http_proxy.Proxy | None] = {}
        self._ssl = None
        if not plain_http:
            try:
                self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
            except (OSError, ssl.SSLError) as exc:
                raise RegistryError(f"cannot load CA file {ca_file} for registry {registry}: {exc}") from exc
            if not validate_certs:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self.stats = {"requests": 0, "retries": 0}

    # -- connections -------------------------------------------------------

    def _proxy(self, scheme: str, host: str) -> http_proxy.Proxy | None:
        """The proxy for scheme://host (None: direct), decided once per client from the environment."""
        key = (scheme, host)
        if key not in self._proxies:
            try:
                self._proxies[key] = http_proxy.proxy_for(scheme, host)
            except http_proxy.ProxyConfigError as exc:
                raise RegistryError(f"cannot use the proxy for registry {host}: {exc}") from exc
        return self._proxies[key]

    def _new_connection(self, scheme: str, host: str, timeout: float | None = None, blocksize: int = READ_SIZE):
        context = (self._ssl or ssl.create_default_context()) if scheme == "https" else None
        return http_proxy.connection(
            scheme,
            host,
            timeout=timeout or self.timeout,
            context=context,
            blocksize=blocksize,
            proxy=self._proxy(scheme, host),
        )

    def _connection(self, host: str | None = None, scheme: str | None = None):
        host = host or self.host
        scheme = scheme or self.scheme
        key = (scheme, host)
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(key)
        if conn is None:
            conn = conns[key] = self._new_connection(scheme, host)
        return conn

    def _drop_connection(self, host: str | None = None, scheme: str | None = None) -> None:
        conns = getattr(self._local, "conns", None) or {}
        conn = conns.pop((scheme or self.scheme, host or self.host), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for conn in (getattr(self._local, "conns", None) or {}).values():
            conn.close()
        self._local.conns = {}

    # -- auth --------------------------------------------------------------

    def _basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _auth_header(self, scopes: tuple) -> str | None:
        if self._challenge is None:
            return None
        scheme, params = self._challenge
        if scheme == "basic":
            return self._basic() if self.username else None
        if scheme == "bearer":
            with self._auth_lock:
                token = self._tokens.get(scopes)
                if token is None:
                    token = self._fetch_token(params, scopes)
                    self._tokens[scopes] = token
            return "Bearer " + token
        return None

    def _fetch_token(self, params: dict, scopes: tuple) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryAuthError(f"registry {self.registry} asked for a bearer token without a realm")
        query = [("service", params["service"])] if params.get("service") else []
        query += [("scope", s) for s in scopes]
        url = urllib.parse.urlsplit(realm)
        path = url.path + "?" + urllib.parse.urlencode(query) if query else url.path
        if url.query:
            path = url.path + "?" + url.query + ("&" + urllib.parse.urlencode(query) if query else "")
        headers = {"User-Agent": USER_AGENT}
        if self.username:
            headers["Authorization"] = self._basic()
        conn = self._new_connection("http" if url.scheme == "http" else "https", url.netloc, blocksize=8192)
        try:
            conn.request("GET", path or "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
        except http_proxy.ProxyError as exc:
            if not exc.transient:
                raise RegistryError(f"token service of registry {self.registry}: {exc}", exc.status) from exc
            raise TransientError(f"token service of registry {self.registry}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(f"cannot reach the token service {realm} of registry {self.registry}: {exc}") from exc
        finally:
            conn.close()
        if resp.status == 407 and getattr(conn, "proxy", None) is not None:
            raise RegistryError(http_proxy.auth_failure(conn.proxy, 407, resp.reason, f"GET {realm}"), 407)
        if resp.status in (401, 403):
            who = f"user {self.username!r}" if self.username else "anonymous access"
            raise RegistryAuthError(
                f"the token service of registry {self.registry} refused {who} (HTTP {resp.status}); check the registry username and password",
                resp.status,
            )
        if resp.status != 200:
            raise RegistryError(
                f"token service {realm} of registry {self.registry} answered HTTP {resp.status}", resp.status
            )
        try:
            data = json.loads(body)
            return data.get("token") or data["access_token"]
        except (ValueError, KeyError) as exc:
            raise RegistryError(f"token service {realm} of registry {self.registry} returned no token") from exc

    def _on_unauthorized(self, resp: http.client.HTTPResponse, scopes: tuple, sent_auth: bool, tries: int) -> None:
        """Learn the challenge; raise when credentials are missing or wrong, else the caller retries."""
        header = resp.getheader("WWW-Authenticate", "")
        scheme, params = _parse_challenge(header)
        with self._auth_lock:
            self._challenge = (scheme, params)
            if scheme == "bearer":
                # An expired token is dropped and fetched again once.
                self._tokens.pop(scopes, None)
        if scheme == "basic":
            if not self.username:
                raise RegistryAuthError(
                    f"registry {self.registry} requires authentication: set the registry username and password", 401
                )
            if sent_auth:
                raise RegistryAuthError(
                    f"authentication to registry {self.registry} failed for user {self.username!r}: wrong username or password",
                    401,
                )
            return
        if scheme == "bearer":
            if sent_auth and tries >= 2:
                who = f"user {self.username!r}" if self.username else "anonymous access"
                raise RegistryAuthError(
                    f"registry {self.registry} denied {who} for {' '.join(scopes) or 'this request'} (HTTP 401); "
                    "check the credentials and the user's permissions",
                    401,
                )
            return
        raise RegistryAuthError(f"registry {self.registry} asked for unsupported authentication {header!r}", 401)

    # -- requests ----------------------------------------------------------

    def _url(self, path_or_url: str) -> tuple[str, str, str]:
        """(scheme, host, path) for a path or an absolute URL (Location headers)."""
        if path_or_url.startswith(("http://", "https://")):
            url = urllib.parse.urlsplit(path_or_url)
            path = url.path + ("?" + url.query if url.query else "")
            return url.scheme, url.netloc, path
        return self.scheme, self.host, path_or_url

    def _request(
        self,
        method: str,
        path: str,
        *,
        scopes: tuple = (),
        headers: dict | None = None,
        body=None,
        stream: bool = False,
        retry: bool = True,
        redirects: int = 5,
    ) -> _Response:
        """One request with auth, redirects and (for replayable bodies) retries."""
        attempt = 0
        auth_tries = 0
        while True:
            scheme, host, req_path = self._url(path)
            own_host = host == self.host
            hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
            auth = self._auth_header(scopes) if own_host else None
            if auth:
                hdrs["Authorization"] = auth
            if body is None and method in ("PUT", "POST", "PATCH"):
                hdrs.setdefault("Content-Length", "0")
            conn = self._connection(host, scheme)
            self.stats["requests"] += 1
            try:
                conn.request(method, req_path, body=body, headers=hdrs)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException, ssl.SSLError) as exc:
                self._drop_connection(host, scheme)
                if isinstance(exc, http_proxy.ProxyError):
                    # The proxy's own message: which proxy, which variable set it, what to do.
                    if not exc.transient:
                        raise RegistryError(str(exc), exc.status) from exc
                    if retry and attempt < self.retries and (body is None or isinstance(body, bytes)):
                        attempt += 1
                        self._sleep(attempt)
                        continue
                    raise TransientError(str(exc), exc.status) from exc
                if isinstance(exc, ssl.SSLCertVerificationError):
                    raise RegistryError(
                        f"TLS verification of registry {host} failed ({exc.verify_message}); pass the registry CA with ca_file, or fix the certificate"
                    ) from exc
                if isinstance(exc, ContentError):
                    raise
                if scheme == "https" and isinstance(exc, ssl.SSLError) and exc.reason in TLS_TO_PLAIN_REASONS:
                    raise RegistryError(
                        f"registry {host} serves plain HTTP, not HTTPS (the TLS handshake got a plain-text answer: {exc.reason}); "
                        "set plain_http: true for it (image_preload_plain_http: true; for image_bundle, list it in "
                        "plain_http_registries), or serve the registry with TLS"
                    ) from exc
                err = TransientError(f"cannot reach registry {host} ({method} {req_path.split('?')[0]}): {exc}")
                if retry and attempt < self.retries and (body is None or isinstance(body, bytes)):
                    attempt += 1
                    self._sleep(attempt)
                    continue
                raise err from exc
            if resp.status == 407 and getattr(conn, "proxy", None) is not None:
                resp.read()
                self._drop_connection(host, scheme)
                raise RegistryError(
                    http_proxy.auth_failure(
                        conn.proxy, 407, resp.reason, f"{method} {scheme}://{host}{req_path.split('?')[0]}"
                    ),
                    407,
                )
            if resp.status == 401 and own_host:
                resp.read()
                auth_tries += 1
                self._on_unauthorized(resp, scopes, bool(auth), auth_tries)
                if body is None or isinstance(body, bytes):
                    continue
                # A streamed body cannot be replayed: upload_blob restarts the upload with a fresh token.
                raise TransientError(
                    f"registry {self.registry} asked to authenticate again during an upload (token expired)", 401
                )
            if resp.status in (301, 302, 303, 307, 308) and redirects > 0 and resp.getheader("Location"):
                resp.read()
                location = urllib.parse.urljoin(f"{scheme}://{host}{req_path}", resp.getheader("Location"))
                path = location
                redirects -= 1
                if resp.status == 303:
                    method, body = "GET", None
                continue
            if resp.status in TRANSIENT_STATUS:
                data = resp.read()
                if retry and attempt < self.retries and (body is None or isinstance(body, bytes)):
                    attempt += 1
                    self._sleep(attempt, resp.getheader("Retry-After"))
                    continue
                _unused, detail = _error_detail(data)
                via = f" (through the {conn.proxy.where()})" if getattr(conn, "proxy", None) is not None else ""
                raise TransientError(
                    f"registry {host} answered HTTP {resp.status} to {method} {req_path.split('?')[0]}{via}: {detail}",
                    resp.status,
                )
            if stream and 200 <= resp.status < 300:
                return _Response(resp.status, resp.headers, raw=resp)
            data = resp.read()
            if resp.will_close:
                self._drop_connection(host, scheme)
            if resp.status == 400 and scheme == "http" and self._speaks_tls(host, data, resp):
                raise RegistryError(
                    f"registry {host} speaks HTTPS (TLS), but plain_http is set: set plain_http: false "
                    "(image_preload_plain_http: false; for image_bundle, remove it from plain_http_registries) "
                    "and pass the registry CA with ca_file",
                    400,
                )
            return _Response(resp.status, resp.headers, data)

    def _speaks_tls(self, host: str, body: bytes, resp) -> bool:
        """Whether a 400 to a plain-HTTP request is a TLS server's answer (see PLAIN_TO_TLS_ANSWERS).

        A HEAD response carries no body; Go's answer has no header either (a registry's own 400
        has Content-Type), so then ``GET /v2/`` is asked once to read the text.
        """
        if any(text in body for text in PLAIN_TO_TLS_ANSWERS):
            return True
        if body or resp.getheader("Content-Type"):
            return False
        conn = self._new_connection("http", host, blocksize=8192)
        try:
            conn.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
            probe = conn.getresponse()
            return probe.status == 400 and any(text in probe.read(4096) for text in PLAIN_TO_TLS_ANSWERS)
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _sleep(self, attempt: int, retry_after: str | None = None) -> None:
        self.stats["retries"] += 1
        delay = self.backoff * (2 ** (attempt - 1))
        if retry_after and retry_after.isdigit():
            delay = max(delay, min(float(retry_after), 60.0))
        time.sleep(delay * (0.8 + 0.4 * random.random()))  # noqa: S311 - jitter, not crypto

    def _fail(self, resp: _Response, what: str) -> RegistryError:
        code, detail = _error_detail(resp.body)
        cls = RegistryAuthError if resp.status in (401, 403) else RegistryError
        hint = ""
        if resp.status == 403:
            hint = "; the user lacks permission"
        elif code == "DIGEST_INVALID":
            hint = (
                "; the content does not match its digest, the bundle is corrupt: rebuild it with playbooks/bundle.yml"
            )
        elif code == "MANIFEST_BLOB_UNKNOWN":
            hint = "; a blob the manifest references is missing from the registry"
        return cls(f"{what} on registry {self.registry} failed: HTTP {resp.status} {detail}{hint}", resp.status, code)

    # -- API ---------------------------------------------------------------

    @staticmethod
    def _scopes(repo: str, push: bool = False, mount_from: str | None = None) -> tuple:
        scopes = [f"repository:{repo}:{'pull,push' if push else 'pull'}"]
        if mount_from:
            scopes.append(f"repository:{mount_from}:pull")
        return tuple(scopes)

    def ping(self) -> None:
        """Check the API version endpoint (and the credentials)."""
        resp = self._request("GET", "/v2/")
        if resp.status == 401:
            raise RegistryAuthError(
                f"authentication to registry {self.registry} failed: check the username and password", 401
            )
        if resp.status != 200:
            raise self._fail(resp, "GET /v2/")

    def manifest_digest(self, repo: str, reference: str) -> tuple[str, str] | None:
        """(digest, media type) of a manifest, or None when absent."""
        resp = self._request(
            "HEAD", f"/v2/{repo}/manifests/{reference}", scopes=self._scopes(repo), headers={"Accept": ACCEPT_MANIFESTS}
        )
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._fail(resp, f"HEAD manifest {repo}:{reference}")
        digest = resp.header("Docker-Content-Digest")
        if not digest:
            _data, media_type, digest = self.get_manifest(repo, reference)
            return digest, media_type
        return digest, resp.header("Content-Type", "")

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest); the digest is computed from the bytes."""
        resp = self._request(
            "GET", f"/v2/{repo}/manifests/{reference}", scopes=self._scopes(repo), headers={"Accept": ACCEPT_MANIFESTS}
        )
        if resp.status == 404:
            raise RegistryError(
                f"image {self.registry}/{repo}:{reference} not found (HTTP 404); check the image name and tag",
                404,
                "MANIFEST_UNKNOWN",
            )
        if resp.status != 200:
            raise self._fail(resp, f"GET manifest {repo}:{reference}")
        digest = sha256_digest(resp.body)
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatchError(
                f"digest mismatch for manifest {self.registry}/{repo}@{reference}: expected {reference}, got {digest}"
            )
        return resp.body, resp.header("Content-Type", "").split(";")[0].strip(), digest

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        expected = sha256_digest(data)
        resp = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            scopes=self._scopes(repo, push=True),
            headers={"Content-Type": media_type},
            body=data,
        )
        if resp.status not in (200, 201, 202):
            raise self._fail(resp, f"PUT manifest {repo}:{reference}")
        got = resp.header("Docker-Content-Digest")
        if got and got != expected:
            raise RegistryError(
                f"registry {self.registry} stored manifest {repo}:{reference} as {got}, expected {expected}; the registry rewrote it"
            )
        return expected

    def _paged(self, path: str, key: str, scopes: tuple, what: str) -> list[str]:
        """Every item of a paginated list (``_catalog``, ``tags/list``), following ``Link: <...>; rel="next"``."""
        items: list[str] = []
        url: str | None = f"{path}?n=1000"
        while url:
            resp = self._request("GET", url, scopes=scopes)
            if resp.status == 404 and key == "tags":
                return items  # a repository whose last tag was deleted
            if resp.status != 200:
                raise self._fail(resp, what)
            try:
                items += json.loads(resp.body).get(key) or []
            except (ValueError, AttributeError) as exc:
                raise RegistryError(f"{what} on registry {self.registry}: the answer is not a JSON list") from exc
            match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", resp.header("Link", "") or "")
            url = match.group(1) if match else None
        return items

    def repositories(self) -> list[str]:
        """Every repository of the registry (``GET /v2/_catalog``, paginated)."""
        return self._paged("/v2/_catalog", "repositories", ("registry:catalog:*",), "GET /v2/_catalog")

    def tags(self, repo: str) -> list[str]:
        """The tags of a repository (``GET /v2/<name>/tags/list``, paginated); none when it has none."""
        return self._paged(f"/v2/{repo}/tags/list", "tags", self._scopes(repo), f"GET tags of {repo}")

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """``DELETE /v2/<name>/manifests/<digest>``: True when deleted, False when it was not there.
        Every tag that names the digest in that repository goes with it."""
        resp = self._request("DELETE", f"/v2/{repo}/manifests/{digest}", scopes=(f"repository:{repo}:delete",))
        if resp.status in (200, 202):
            return True
        if resp.status == 404:
            return False
        if resp.status == 405:
            raise RegistryError(
                f"registry {self.registry} refuses deletes (HTTP 405: storage.delete.enabled is off); "
                "set registry_delete_enabled: true and run playbooks/registry.yml first",
                405,
                "UNSUPPORTED",
            )
        raise self._fail(resp, f"DELETE manifest {repo}@{digest}")

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", scopes=self._scopes(repo))
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        raise self._fail(resp, f"HEAD blob {repo}@{digest}")

    def open_blob(self, repo: str, digest: str, retry: bool = True):
        """A streaming response body for a blob (redirects followed); ``retry=False`` when the
        caller retries the whole download (one budget per request)."""
        resp = self._request("GET", f"/v2/{repo}/blobs/{digest}", scopes=self._scopes(repo), stream=True, retry=retry)
        if resp.raw is None:
            if resp.status == 404:
                raise RegistryError(
                    f"blob {digest} of {self.registry}/{repo} not found (HTTP 404)", 404, "BLOB_UNKNOWN"
                )
            raise self._fail(resp, f"GET blob {repo}@{digest}")
        return resp.raw

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> tuple[bool, str | None]:
        """Cross-repository mount: (True, None) when mounted, else (False, upload location)."""
        query = urllib.parse.urlencode({"mount": digest, "from": from_repo})
        resp = self._request(
            "POST", f"/v2/{repo}/blobs/uploads/?{query}", scopes=self._scopes(repo, push=True, mount_from=from_repo)
        )
        if resp.status == 201:
            return True, None
        if resp.status == 202 and resp.header("Location"):
            return False, resp.header("Location")
        raise self._fail(resp, f"mount blob {digest} from {from_repo} into {repo}")

    def _start_upload(self, repo: str) -> str:
        # Not retried here: upload_blob retries the whole upload (one budget per request).
        resp = self._request("POST", f"/v2/{repo}/blobs/uploads/", scopes=self._scopes(repo, push=True), retry=False)
        if resp.status != 202 or not resp.header("Location"):
            raise self._fail(resp, f"start upload to {repo}")
        return resp.header("Location")

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        sep = "&" if "?" in location else "?"
        return f"{location}{sep}digest={urllib.parse.quote(digest)}"

    def upload_blob(self, repo: str, digest: str, size: int, opener, where: str, location: str | None = None) -> int:
        """Upload a blob read from ``opener()``; retried from scratch on transient errors. Returns bytes sent.

        The upload is one request for the retry budget: ``retries`` + 1 attempts in all, each
        starting a session and sending the body; none of its requests retries on its own.
        """
        attempt = 0
        while True:
            try:
                loc = location or self._start_upload(repo)
                location = None
                if size > self.monolithic_max:
                    return self._upload_chunked(repo, digest, size, opener, where, loc)
                try:
                    return self._upload_monolithic(repo, digest, size, opener, where, loc)
                except RegistryError as exc:
                    if exc.status != 413:
                        raise
                    return self._upload_chunked(repo, digest, size, opener, where, self._start_upload(repo))
            except TransientError:
                if attempt >= self.retries:
                    raise
                attempt += 1
                self._sleep(attempt)

    def _send(self, method: str, location: str, repo: str, headers: dict, reader, where: str) -> _Response:
        try:
            return self._request(
                method, location, scopes=self._scopes(repo, push=True), headers=headers, body=reader, retry=False
            )
        except ContentError:
            scheme, host, _unused = self._url(location)
            self._drop_connection(host, scheme)
            raise

    def _cancel_upload(self, repo: str, location: str) -> None:
        """Close an upload session, best effort: ``DELETE`` on its URL ("Cancel outstanding upload
        processes, releasing associated resources": docker/distribution docs/spec/api.md, endpoint
        ``DELETE /v2/<name>/blobs/uploads/<uuid>``). Not retried; a failure here is not reported."""
        with contextlib.suppress(RegistryError):
            self._request("DELETE", location, scopes=self._scopes(repo, push=True), retry=False)

    def _upload_monolithic(self, repo, digest, size, opener, where, location) -> int:
        raw = opener()
        reader = VerifyingReader(raw, digest, size, where)
        try:
            try:
                resp = self._send(
                    "PUT",
                    self._with_digest(location, digest),
                    repo,
                    {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                    reader,
                    where,
                )
                reader.read(0)  # verify (also covers size 0)
            finally:
                reader.close()
        except (RegistryError, ContentError):
            self._cancel_upload(repo, location)
            raise
        if resp.status != 201:
            self._cancel_upload(repo, location)
            raise self._fail(resp, f"upload of blob {digest} to {repo}")
        return size

    def _upload_chunked(self, repo, digest, size, opener, where, location) -> int:
        raw = opener()
        reader = VerifyingReader(raw, digest, size, where)
        sent = 0
        try:
            while sent < size:
                n = min(self.chunk_size, size - sent)
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(n),
                    "Content-Range": f"{sent}-{sent + n - 1}",
                }
                resp = self._send("PATCH", location, repo, headers, _Limited(reader, n), where)
                if resp.status != 202:
                    raise self._fail(resp, f"chunked upload of blob {digest} to {repo}")
                location = resp.header("Location") or location
                sent += n
            reader.read(0)  # verify (also covers size 0)
            # Not retried here: upload_blob retries the whole upload.
            resp = self._request(
                "PUT", self._with_digest(location, digest), scopes=self._scopes(repo, push=True), retry=False
            )
            if resp.status != 201:
                raise self._fail(resp, f"finishing chunked upload of blob {digest} to {repo}")
        except (RegistryError, ContentError):
            # Never commit bad content, never leave a session open: cancel it (best effort) and report.
            self._cancel_upload(repo, location)
            raise
        finally:
            reader.close()
        return size


class _Limited:
    """At most ``n`` bytes of a reader (one PATCH chunk)."""

    def __init__(self, reader, n: int):
        self._reader = reader
        self._left = n

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = self._reader.read(size)
        self._left -= len(data)
        return data


__all__ = ["RegistryAuthError", "RegistryClient", "RegistryError", "TransientError"]
