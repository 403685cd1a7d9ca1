# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""A small HTTP client for the platform's service APIs (Gitea, Drone) and their web login pages.

- TLS verified against a CA file (the platform's local CA) or the system store; plain
  HTTP only for ``http://`` URLs (the unit tests' loopback test doubles).
- Redirects are never followed: callers see every 3xx and decide (the OAuth2 login flow
  needs the intermediate ``Location`` headers and cookies).
- Cookies are kept per origin (scheme, host, port): enough for session and CSRF cookies
  of one service, and no cookie ever travels to another service.
- JSON bodies in and out; form bodies for web login pages; a minimal HTML form reader.
- Secrets (passwords, tokens) are sent in headers or bodies only, never in URLs, and never
  appear in error messages.
- ``resolve`` ({name: address}, like ``curl --resolve``) connects to the given address
  instead of asking the controller's resolver; TLS SNI, the certificate check and the
  ``Host`` header still use the name, so the platform's certificate verifies as usual.
  The platform's local domains then work from a controller whose /etc/hosts does not
  list them (docs/local-domains.md).

Stdlib only.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import socket
import ssl
import urllib.parse
from html.parser import HTMLParser

USER_AGENT = "gauntlet.platform-api-client/1"


class ApiError(Exception):
    """A request failed; the message says what happened and what to check."""

    def __init__(self, msg: str, status: int | None = None):
        super().__init__(msg)
        self.status = status


class Response:
    """Status, headers (case-insensitive lookup) and body of one answer."""

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, url: str):
        self.status = status
        self.headers = headers
        self.body = body
        self.url = url

    def header(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    def header_list(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    @property
    def location(self) -> str | None:
        """The absolute redirect target, or None."""
        target = self.header("Location")
        return urllib.parse.urljoin(self.url, target) if target else None

    def json(self):
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(f"{self.url} answered {self.status} with a body that is not JSON", self.status) from exc

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def check_resolve(resolve) -> dict[str, str]:
    """Validate a {host name: IP address} map; returns it with lower-case names."""
    problem = ApiError(
        f"resolve must map host names to IP addresses (for example {{'gitea.local': '192.168.56.11'}}); got {resolve!r}"
    )
    if resolve is None:
        return {}
    if not isinstance(resolve, dict):
        raise problem
    checked = {}
    for name, address in resolve.items():
        if not isinstance(name, str) or not name.strip():
            raise problem
        try:
            ipaddress.ip_address(str(address))
        except ValueError:
            raise problem from None
        checked[name.strip().lower().rstrip(".")] = str(address)
    return checked


class HttpClient:
    """Requests to one or more origins with a per-origin cookie jar."""

    def __init__(self, ca_path: str | None = None, timeout: float = 30.0, resolve: dict | None = None):
        self.timeout = timeout
        # Certificates are always verified: against ca_path, else the system store.
        self.ssl_context = ssl.create_default_context(cafile=ca_path or None)
        self.cookies: dict[str, dict[str, str]] = {}
        self.resolve = check_resolve(resolve)

    def _connection(self, scheme: str, host: str, port: int) -> http.client.HTTPConnection:
        """A connection to host:port, dialling the `resolve` address of host when it has one."""
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.ssl_context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        address = self.resolve.get(host.lower().rstrip("."))
        if address:
            # http.client dials through this attribute (socket.create_connection by default) and
            # then wraps the socket with server_hostname=host: only the TCP target changes.
            def dial(target, *args, **kwargs):
                return socket.create_connection((address, target[1]), *args, **kwargs)

            conn._create_connection = dial
        return conn

    def _store_cookies(self, url: str, response: Response) -> None:
        jar = self.cookies.setdefault(origin_of(url), {})
        for header in response.header_list("Set-Cookie"):
            pair = header.split(";", 1)[0]
            name, sep, value = pair.partition("=")
            if not sep or not name.strip():
                continue
            attributes = header.lower()
            if value == "" or "max-age=0" in attributes or "max-age=-1" in attributes:
                jar.pop(name.strip(), None)
            else:
                jar[name.strip()] = value.strip()

    def request(
        self,
        method: str,
        url: str,
        *,
        json_body=None,
        form: dict | None = None,
        data: bytes | None = None,
        headers: dict | None = None,
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(f"{url!r} is not an http(s) URL")
        if parts.username or parts.password:
            raise ApiError("credentials must not be part of a URL; pass them as options")
        send = {"User-Agent": USER_AGENT, "Accept": "application/json, text/html;q=0.9"}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            send["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form).encode("utf-8")
            send["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            # A body the caller encoded (multipart uploads); it passes its Content-Type in headers.
            body = data
        jar = self.cookies.get(origin_of(url))
        if jar:
            send["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        send.update(headers or {})
        if body is not None:
            send["Content-Length"] = str(len(body))
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        port = parts.port or (443 if parts.scheme == "https" else 80)
        conn = self._connection(parts.scheme, parts.hostname, port)
        where = f"{method} {parts.scheme}://{parts.netloc}{parts.path}"
        address = self.resolve.get(parts.hostname.lower().rstrip("."))
        try:
            conn.request(method, path, body=body, headers=send)
            raw = conn.getresponse()
            response = Response(raw.status, raw.getheaders(), raw.read(), url)
        except ssl.SSLCertVerificationError as exc:
            raise ApiError(
                f"{where}: the TLS certificate is not trusted ({exc.verify_message}); pass the platform CA as ca_path"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            if address:
                raise ApiError(
                    f"{where}: cannot connect to {address}:{port} for {parts.hostname} ({exc}); check that the "
                    "ingress address is right (gauntlet_ingress_address) and that the service is running"
                ) from exc
            raise ApiError(
                f"{where}: cannot connect ({exc}); check that the name resolves from the controller "
                "(local_domains_manage_controller) and that the service is running"
            ) from exc
        finally:
            conn.close()
        self._store_cookies(url, response)
        return response


def basic_auth(username: str, password: str) -> dict:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def error_detail(response: Response) -> str:
    """A short, secret-free description of an API error answer."""
    try:
        data = json.loads(response.body)
    except ValueError:
        text = response.text().strip().splitlines()
        return text[0][:200] if text else ""
    if isinstance(data, dict):
        for key in ("message", "error", "error_description"):
            if data.get(key):
                return str(data[key])[:300]
    return json.dumps(data)[:200]


class _FormReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self._current = {
                "action": attributes.get("action", ""),
                "method": attributes.get("method", "get").lower(),
                "fields": {},
                "buttons": [],
            }
            self.forms.append(self._current)
        elif self._current is not None and tag in ("input", "button") and attributes.get("name"):
            kind = attributes.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "submit":
                self._current["buttons"].append((attributes["name"], attributes.get("value", "")))
            elif kind == "hidden":
                self._current["fields"][attributes["name"]] = attributes.get("value", "")
            elif kind in ("checkbox", "radio"):
                if "checked" in attributes:
                    self._current["fields"][attributes["name"]] = attributes.get("value", "on")
            else:
                self._current["fields"].setdefault(attributes["name"], attributes.get("value", ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def html_forms(html: str) -> list[dict]:
    """Every form of a page: action, method, fields (hidden and text inputs) and submit buttons."""
    reader = _FormReader()
    reader.feed(html)
    return reader.forms
