# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""How a request reaches a registry, for the client of the OCI distribution API (client.py).

- TLS with the system trust store or a custom CA file; plain HTTP only when ``plain_http`` is
  set explicitly. A scheme mismatch (``plain_http`` against a TLS registry, TLS against a
  plain-HTTP one) is reported at once with the fix, never retried.
- Auth (auth.py) learnt from the 401 answers and sent with every request to the registry.
- Redirects followed (blob storage); the registry's credentials go only to the registry.
- Retries with exponential backoff on connection errors, 408, 429 and 5xx: ``retries`` + 1
  attempts per request, one budget (callers that retry a whole operation pass ``retry=False``).
- One keep-alive connection per thread, so callers may use a thread pool.
- HTTP(S) proxies from the standard environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``;
  urllib's rules, as ``ansible.builtin.get_url`` applies them): see ``http_proxy``. Every
  connection goes that way: the registry's API, its token service, redirects to blob storage.
"""

from __future__ import annotations

import http.client
import random
import ssl
import threading
import time
import urllib.parse

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import READ_SIZE, ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.registry import http_proxy
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.auth import RegistryAuth
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import (
    RegistryAuthError,
    RegistryError,
    TransientError,
    error_detail,
)

USER_AGENT = "gauntlet.platform-registry-client/1"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
DEFAULT_MONOLITHIC_MAX = 1 << 30
DEFAULT_CHUNK_SIZE = 64 << 20
# What a TLS server answers to plain HTTP: Go's net/http ((*conn).serve writes "400 Bad Request" with
# "Client sent an HTTP request to an HTTPS server."; distribution's registry is a Go server, checked
# against Debian's docker-registry in tests/services/test_image_engine.py) and nginx ("The plain HTTP
# request was sent to HTTPS port").
PLAIN_TO_TLS_ANSWERS = (
    b"Client sent an HTTP request to an HTTPS server",
    b"The plain HTTP request was sent to HTTPS port",
)
# OpenSSL's reasons when the "TLS record" it reads is plain text (an HTTP server's answer to a ClientHello):
# WRONG_VERSION_NUMBER (OpenSSL 1.1/3.0, Debian 12), RECORD_LAYER_FAILURE / PACKET_LENGTH_TOO_LONG (later).
TLS_TO_PLAIN_REASONS = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"})


class Response:
    """A fully-handled response: status, headers, body (unless streamed)."""

    def __init__(self, status: int, headers, body: bytes = b"", raw=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.raw = raw

    def header(self, name: str, default=None):
        return self.headers.get(name, default)


class RegistryTransport:
    """Requests to one registry (host[:port]): connections, auth, redirects, retries; the API is
    RegistryClient's (client.py)."""

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
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.monolithic_max = monolithic_max
        self.chunk_size = chunk_size
        self._local = threading.local()
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
        self._auth = RegistryAuth(registry, username, password, self._new_connection, USER_AGENT)

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
    ) -> Response:
        """One request with auth, redirects and (for replayable bodies) retries."""
        attempt = 0
        auth_tries = 0
        while True:
            scheme, host, req_path = self._url(path)
            own_host = host == self.host
            hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
            auth = self._auth.header(scopes) if own_host else None
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
                self._auth.on_unauthorized(resp.getheader("WWW-Authenticate", ""), scopes, bool(auth), auth_tries)
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
                _unused, detail = error_detail(data)
                via = f" (through the {conn.proxy.where()})" if getattr(conn, "proxy", None) is not None else ""
                raise TransientError(
                    f"registry {host} answered HTTP {resp.status} to {method} {req_path.split('?')[0]}{via}: {detail}",
                    resp.status,
                )
            if stream and 200 <= resp.status < 300:
                return Response(resp.status, resp.headers, raw=resp)
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
            return Response(resp.status, resp.headers, data)

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

    def _fail(self, resp: Response, what: str) -> RegistryError:
        code, detail = error_detail(resp.body)
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
