# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Registry authentication: HTTP basic, and the bearer-token flow (``WWW-Authenticate: Bearer
realm=...,service=...,scope=...``; tokens cached per scope set), learnt from the registry's 401."""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import urllib.parse

from ansible_collections.gauntlet.platform.plugins.module_utils.registry import http_proxy
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import (
    RegistryAuthError,
    RegistryError,
    TransientError,
)


def _parse_challenge(header: str) -> tuple[str, dict]:
    scheme, _unused, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryAuth:
    """The credentials for one registry and what its last 401 asked for: HTTP basic, or bearer
    tokens from the token service it names, fetched once per scope set and kept."""

    def __init__(self, registry: str, username: str | None, password: str | None, connect, user_agent: str):
        """``connect(scheme, host, blocksize=...)`` opens a connection the way the client does
        (its TLS context, its proxy), so the token service is reached like the registry."""
        self.registry = registry
        self.username = username
        self.password = password
        self._connect = connect
        self._user_agent = user_agent
        self._lock = threading.Lock()
        self._challenge: tuple[str, dict] | None = None
        self._tokens: dict[tuple, str] = {}

    def _basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def header(self, scopes: tuple) -> str | None:
        """The Authorization header for a request needing ``scopes``, or None before any challenge."""
        if self._challenge is None:
            return None
        scheme, params = self._challenge
        if scheme == "basic":
            return self._basic() if self.username else None
        if scheme == "bearer":
            with self._lock:
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
        headers = {"User-Agent": self._user_agent}
        if self.username:
            headers["Authorization"] = self._basic()
        conn = self._connect("http" if url.scheme == "http" else "https", url.netloc, blocksize=8192)
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

    def on_unauthorized(self, header: str, scopes: tuple, sent_auth: bool, tries: int) -> None:
        """Learn the challenge; raise when credentials are missing or wrong, else the caller retries."""
        scheme, params = _parse_challenge(header)
        with self._lock:
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
