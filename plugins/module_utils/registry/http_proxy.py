# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""HTTP(S) proxies for the image engine's registry client, from the standard environment.

The same rules as Python's urllib (``urllib.request.ProxyHandler``), which Ansible's
``get_url`` uses for the bundle's files, so files and images take the same way out:

- ``https_proxy`` / ``HTTPS_PROXY`` for ``https://`` URLs, ``http_proxy`` / ``HTTP_PROXY`` for
  ``http://`` URLs, read with ``urllib.request.getproxies()`` (the lower-case name wins when both
  are set; an empty lower-case value switches the proxy off). ``ALL_PROXY`` is not used (urllib
  does not use it).
- ``no_proxy`` / ``NO_PROXY`` with ``urllib.request.proxy_bypass()``: comma-separated host names,
  domain suffixes (``example.com`` and ``.example.com`` both match ``reg.example.com``),
  ``host:port`` entries that match that port only, and ``*`` for every host. Addresses match
  literally; CIDR ranges are not understood (urllib does not understand them either).
- The proxy URL is ``http://[user:password@]host:port`` (a bare ``host:port`` means ``http://``).
  The hop to the proxy is plain HTTP. A proxy URL with another scheme, or without a port, stops
  with a clear error (urllib would dial port 443 for https targets and 80 for http ones, pip
  port 80 for both: naming the port leaves no doubt).
- ``https://`` targets go through a ``CONNECT host:port`` tunnel; TLS (SNI, certificate check)
  is then end to end with the registry, as without a proxy. ``http://`` targets are sent to the
  proxy with the absolute URL as request target.
- ``user:password`` in the proxy URL (percent-decoded; both non-empty, as urllib requires) is
  sent as ``Proxy-Authorization: Basic``
  on the CONNECT or on each plain-HTTP request. Messages name the proxy as ``http://host:port``
  and the variable that set it, never the credentials.

Stdlib only.
"""

from __future__ import annotations

import base64
import http.client
import os
import socket
import urllib.parse
import urllib.request

# Statuses of a refused CONNECT worth retrying: the proxy could not reach the registry now.
TRANSIENT_CONNECT_STATUS = frozenset({500, 502, 503, 504})
# Bound on the response head a proxy sends back to a CONNECT (status line and headers).
MAX_CONNECT_HEAD = 64 * 1024


class ProxyError(OSError):
    """The proxy could not be used; the message names it (without credentials) and says what to do.

    ``transient`` is true when a retry may succeed (the proxy is down, or it could not reach the
    registry this time); ``status`` is the proxy's HTTP status, if it answered.
    """

    def __init__(self, msg: str, *, transient: bool = False, status: int | None = None):
        super().__init__(msg)
        self.transient = transient
        self.status = status

    def __str__(self) -> str:
        return self.args[0]


class ProxyConfigError(ValueError):
    """A proxy variable holds something that is not a usable proxy URL."""


class Proxy:
    """One proxy: where it is, where its setting came from, and its credentials (kept out of every text)."""

    def __init__(self, host: str, port: int, variable: str, username: str | None = None, password: str | None = None):
        self.host = host
        self.port = port
        self.variable = variable
        self._authorization = None
        if username and password:
            raw = f"{username}:{password}".encode()
            self._authorization = "Basic " + base64.b64encode(raw).decode()

    @property
    def url(self) -> str:
        """The proxy URL without credentials, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def has_credentials(self) -> bool:
        return self._authorization is not None

    def authorization(self) -> str | None:
        """The ``Proxy-Authorization`` header value, or None."""
        return self._authorization

    def __repr__(self) -> str:
        return f"Proxy({self.url}, from {self.variable})"

    def where(self) -> str:
        """``proxy http://host:port (from HTTPS_PROXY)``."""
        return f"proxy {self.url} (from {self.variable})"


def _variable(scheme: str, value: str) -> str:
    """The name of the environment variable that gave ``scheme``'s proxy ``value``.

    urllib prefers the all-lower-case name (``https_proxy``) over any other spelling."""
    lower = f"{scheme}_proxy"
    if os.environ.get(lower) == value:
        return lower
    for name, val in os.environ.items():
        if name.lower() == lower and val == value:
            return name
    return f"the system proxy settings for {scheme}"


def parse_proxy(value: str, variable: str) -> Proxy:
    """A Proxy from a proxy URL (``http://[user:password@]host[:port]`` or ``host:port``)."""
    text = value.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        url = urllib.parse.urlsplit(text)
        port = url.port
    except ValueError as exc:
        raise ProxyConfigError(
            f"{variable} is not a proxy URL ({exc}); set it to http://host:port or http://user:password@host:port"
        ) from exc
    if url.scheme.lower() != "http":
        raise ProxyConfigError(
            f"{variable} names a {url.scheme}:// proxy; the image engine talks to proxies in plain HTTP "
            "(like Python's urllib, which ansible.builtin.get_url uses): set it to http://host:port"
        )
    shown = f"http://{url.hostname}" if url.hostname else "http://host:port"
    if not url.hostname:
        raise ProxyConfigError(f"{variable} has no proxy host; set it to http://host:port")
    if port is None:
        raise ProxyConfigError(f"{variable} names no port for the proxy {shown}; set it to {shown}:PORT")
    username = urllib.parse.unquote(url.username) if url.username is not None else None
    password = urllib.parse.unquote(url.password) if url.password is not None else None
    return Proxy(url.hostname, port, variable, username, password)


def proxy_for(scheme: str, netloc: str) -> Proxy | None:
    """The proxy for ``scheme://netloc`` under the current environment, or None (direct).

    ``urllib.request.getproxies()`` and ``urllib.request.proxy_bypass()`` decide, exactly as
    ``urllib.request.ProxyHandler`` (and so ``ansible.builtin.get_url``) does for the same URL.
    """
    proxies = urllib.request.getproxies()
    value = proxies.get(scheme)
    if not value:
        return None
    if urllib.request.proxy_bypass(netloc):
        return None
    return parse_proxy(value, _variable(scheme, value))


def _dial(proxy: Proxy, target: str, timeout, source_address) -> socket.socket:
    try:
        return socket.create_connection((proxy.host, proxy.port), timeout, source_address)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ProxyError(
            f"cannot reach the {proxy.where()} to connect to {target}: {reason}; "
            f"check that the proxy runs and that {proxy.variable} names it, or list {target.rsplit(':', 1)[0]} "
            "in NO_PROXY to connect directly",
            transient=True,
        ) from exc


def auth_failure(proxy: Proxy, status: int, reason: str, what: str) -> str:
    """The message for a proxy that wants credentials (407), or refused the ones it got."""
    answer = f"HTTP {status} {reason}".rstrip()
    if proxy.has_credentials:
        return (
            f"the {proxy.where()} refused the user and password in {proxy.variable} ({answer}) for {what}; "
            f"fix them in {proxy.variable} (http://user:password@{proxy.url[len('http://') :]}, percent-encoded)"
        )
    return (
        f"the {proxy.where()} requires authentication ({answer}) for {what}: put the proxy user and password "
        f"in {proxy.variable}: http://user:password@{proxy.url[len('http://') :]}"
    )


def open_tunnel(proxy: Proxy, host: str, port: int, timeout, source_address=None) -> socket.socket:
    """A socket to the proxy on which ``CONNECT host:port`` succeeded (the caller starts TLS on it)."""
    target = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    sock = _dial(proxy, target, timeout, source_address)
    try:
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if proxy.has_credentials:
            lines.append(f"Proxy-Authorization: {proxy.authorization()}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        status, reason = _read_connect_answer(sock, proxy, target)
    except ProxyError:
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        raise ProxyError(f"the {proxy.where()} dropped the CONNECT to {target}: {exc}", transient=True) from exc
    if status == 200:
        return sock
    sock.close()
    # 407 is the standard answer; tinyproxy 1.11 answers a CONNECT with wrong credentials 401 (a 401
    # to a CONNECT can only be the proxy's: the registry has seen nothing yet).
    if status in (401, 407):
        raise ProxyError(auth_failure(proxy, status, reason, f"CONNECT {target}"), status=status)
    raise ProxyError(
        f"the {proxy.where()} refused CONNECT {target}: HTTP {status} {reason}; "
        "allow this host and port in the proxy's rules, or list the host in NO_PROXY to connect directly",
        transient=status in TRANSIENT_CONNECT_STATUS,
        status=status,
    )


def _read_connect_answer(sock: socket.socket, proxy: Proxy, target: str) -> tuple[int, str]:
    """Status and reason of the proxy's answer to CONNECT; reads exactly its head, nothing after it
    (the TLS handshake follows on the same socket)."""
    head = b""
    while b"\r\n\r\n" not in head:
        if len(head) > MAX_CONNECT_HEAD:
            raise ProxyError(f"the {proxy.where()} sent an over-long answer to CONNECT {target}")
        byte = sock.recv(1)  # one byte at a time: never read into what follows the head
        if not byte:
            raise ProxyError(
                f"the {proxy.where()} closed the connection without answering CONNECT {target}", transient=True
            )
        head += byte
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProxyError(f"the {proxy.where()} answered CONNECT {target} with {status_line[:80]!r}, not HTTP")
    return int(parts[1]), (parts[2].strip() if len(parts) > 2 else "")


class ProxiedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to ``host`` through ``proxy``: the absolute URL as request target, the ``Host``
    header of the target, ``Proxy-Authorization`` on every request."""

    def __init__(self, host: str, proxy: Proxy, **kwargs):
        super().__init__(host, **kwargs)
        self.proxy = proxy
        self._target_netloc = host
        # http.client dials through this attribute (socket.create_connection by default).
        self._create_connection = self._dial_proxy

    def _dial_proxy(self, address, timeout, source_address=None):
        return _dial(self.proxy, self._target_netloc, timeout, source_address)

    def putrequest(self, method, url, skip_host=False, skip_accept_encoding=False):
        if self.sock is not None:
            # One request per connection: a proxy need not keep a plain-HTTP client connection open,
            # and tinyproxy 1.11 closes it after each answer without saying "Connection: close", so
            # a reused one would fail. (A CONNECT tunnel stays open; this is plain HTTP only.)
            self.close()
        if not url.startswith(("http://", "https://")):
            url = f"http://{self._target_netloc}{url}"
        super().putrequest(method, url, skip_host=skip_host, skip_accept_encoding=skip_accept_encoding)
        if self.proxy.has_credentials:
            self.putheader("Proxy-Authorization", self.proxy.authorization())


class TunnelHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to ``host`` through a CONNECT tunnel of ``proxy``; TLS (SNI, certificate check,
    ``Host``) is for ``host``, as without a proxy."""

    def __init__(self, host: str, proxy: Proxy, **kwargs):
        super().__init__(host, **kwargs)
        self.proxy = proxy
        self._create_connection = self._open_tunnel

    def _open_tunnel(self, address, timeout, source_address=None):
        return open_tunnel(self.proxy, address[0], address[1], timeout, source_address)


def connection(scheme: str, netloc: str, *, timeout, context=None, blocksize: int = 8192, proxy=None):
    """An ``http.client`` connection to ``scheme://netloc``, through ``proxy`` when it is one
    (see :func:`proxy_for`). Proxied connections carry ``.proxy``; direct ones do not."""
    if scheme == "https":
        if proxy is not None:
            return TunnelHTTPSConnection(netloc, proxy, timeout=timeout, context=context, blocksize=blocksize)
        return http.client.HTTPSConnection(netloc, timeout=timeout, context=context, blocksize=blocksize)
    if proxy is not None:
        return ProxiedHTTPConnection(netloc, proxy, timeout=timeout, blocksize=blocksize)
    return http.client.HTTPConnection(netloc, timeout=timeout, blocksize=blocksize)
