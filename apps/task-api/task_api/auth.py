"""JWT verification against Keycloak's JWKS.

Security decisions, each deliberate:
- the algorithm is pinned to RS256 and checked on the unverified header *before*
  any key is looked up, so ``alg: none`` and HMAC-with-the-public-key tricks never
  reach a verifier;
- the key is chosen by ``kid`` from a local cache: no network call per request;
- an unknown ``kid`` (Keycloak rotated its keys) triggers one JWKS refresh, rate
  limited so a flood of forged kids cannot turn us into a load generator against
  Keycloak; concurrent misses share that single fetch;
- issuer, audience, exp, nbf and iat are verified with a small leeway for clock
  skew; ``sub`` is required because it is the owner of every task;
- the token must have been issued to a client allowed to call the API (``azp``):
  Keycloak's audience-resolve mapper puts the API into ``aud`` of any client's
  token once the user holds one of the API's client roles;
- a token that passed every check is remembered (bounded LRU, by the exact token
  string) until its own ``exp``: clients reuse an access token for minutes, and
  the signature and claims of identical bytes cannot change. Whenever a JWKS
  refresh brings a different key set (a key removed or replaced), the whole cache
  is dropped, so a token signed by a key no longer published fails at once;
- any failure is an :class:`AuthError` (401); details go to the log, not the client.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"


class AuthError(Exception):
    """The request does not carry a valid token; always answered with 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    subject: str
    username: str | None
    roles: frozenset[str]
    is_admin: bool


class JwksCache:
    """Signing keys by kid, refreshed periodically and on demand (rate limited)."""

    def __init__(
        self,
        url: str,
        *,
        min_refresh_interval: float,
        timeout: float,
        ca_file: str | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.min_refresh_interval = min_refresh_interval
        # A private CA (the platform's) is given as a file; otherwise the system store.
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca_file) if ca_file else True
        self._client = client or httpx.AsyncClient(timeout=timeout, verify=verify)
        self._keys: dict[str, Any] = {}
        self._last_attempt = float("-inf")
        self._lock = asyncio.Lock()
        self.loaded = False
        # Bumped whenever a refresh brings a different key set; TokenVerifier's cache follows it.
        self.generation = 0
        self._key_set: frozenset[tuple[str, int, int]] = frozenset()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def refresh(self) -> bool:
        """Fetch the JWKS now; keep the old keys if the fetch fails."""
        self._last_attempt = time.monotonic()
        try:
            response = await self._client.get(self.url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
            keys = self._parse(document)
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("JWKS fetch failed", extra={"fields": {"jwks_url": self.url, "error": str(exc)}})
            return False
        fingerprint = self._fingerprint(keys)
        if fingerprint != self._key_set:
            # A key removed or replaced: tokens verified with the old set must be checked again.
            self._key_set = fingerprint
            self.generation += 1
        self._keys = keys
        self.loaded = True
        logger.info("JWKS loaded", extra={"fields": {"jwks_url": self.url, "kids": sorted(keys)}})
        return True

    @staticmethod
    def _fingerprint(keys: dict[str, Any]) -> frozenset[tuple[str, int, int]]:
        """The key set as (kid, modulus, exponent): equal exactly when the same keys sign under the same kids."""
        numbers = {kid: key.public_numbers() for kid, key in keys.items()}
        return frozenset((kid, n.n, n.e) for kid, n in numbers.items())

    @staticmethod
    def _parse(document: object) -> dict[str, Any]:
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("JWKS document has no 'keys' list")
        keys: dict[str, Any] = {}
        for jwk in document["keys"]:
            # Only RSA signing keys meant for RS256 can ever verify our tokens; Keycloak
            # also publishes encryption keys (use=enc) and other algorithms.
            if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or not isinstance(jwk.get("kid"), str):
                continue
            if jwk.get("use", "sig") != "sig" or jwk.get("alg", ALGORITHM) != ALGORITHM:
                continue
            try:
                keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=ALGORITHM).key
            except jwt.PyJWTError as exc:
                logger.warning("ignoring unusable JWK", extra={"fields": {"kid": jwk["kid"], "error": str(exc)}})
        return keys

    async def get(self, kid: str) -> Any | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is not None:  # another request refreshed while we waited
                return key
            if time.monotonic() - self._last_attempt < self.min_refresh_interval:
                return None
            await self.refresh()
            return self._keys.get(kid)

    async def run_periodic_refresh(self, interval: float) -> None:
        """Background task: pick up rotated keys before any token needs them."""
        while True:
            await asyncio.sleep(interval)
            try:
                async with self._lock:
                    await self.refresh()
            except Exception:  # the loop must outlive any surprise; the old keys stay
                logger.exception("periodic JWKS refresh failed")


class TokenVerifier:
    def __init__(
        self,
        jwks: JwksCache,
        *,
        issuer: str,
        audience: str,
        leeway: float,
        max_token_bytes: int,
        admin_role: str,
        authorized_parties: tuple[str, ...] = ("task-api", "task-api-cli"),
        cache_size: int = 4096,
    ) -> None:
        self.jwks = jwks
        self.cache_size = cache_size
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._generation = jwks.generation
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.max_token_bytes = max_token_bytes
        self.admin_role = admin_role
        self.authorized_parties = frozenset(authorized_parties)

    async def verify_authorization(self, header: str | None) -> Principal:
        if not header:
            raise AuthError("missing Authorization header")
        scheme, _unused, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("Authorization header is not a Bearer token")
        return await self.verify(token)

    async def verify(self, token: str) -> Principal:
        if len(token) > self.max_token_bytes:
            raise AuthError("token exceeds the size limit")
        if self._generation != self.jwks.generation:
            # The JWKS key set changed since these tokens were verified: forget them all.
            self._verified.clear()
            self._generation = self.jwks.generation
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires = cached
            if time.time() <= expires:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        if header.get("alg") != ALGORITHM:
            raise AuthError(f"algorithm {header.get('alg')!r} is not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("token has no kid")
        key = await self.jwks.get(kid)
        if key is None:
            raise AuthError("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"token rejected: {exc}") from None
        except (ValueError, TypeError) as exc:  # defensive: never let a bad token become a 500
            raise AuthError(f"token rejected: {exc}") from None
        # Keycloak marks its tokens: an ID token ("ID") for the same client would
        # pass every check above, so only access tokens ("Bearer") are accepted.
        token_type = claims.get("typ")
        if token_type is not None and (not isinstance(token_type, str) or token_type.lower() != "bearer"):
            raise AuthError(f"token type {token_type!r} is not an access token")
        party = claims.get("azp")
        if not isinstance(party, str) or party not in self.authorized_parties:
            raise AuthError(f"token was issued to client {party!r}, not one allowed to call the API")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AuthError("token has an empty subject")
        if "\x00" in subject:  # the owner column is PostgreSQL text, which cannot hold NUL
            raise AuthError("token subject contains NUL")
        roles = self._roles(claims)
        username = claims.get("preferred_username")
        principal = Principal(
            subject=subject,
            username=username if isinstance(username, str) else None,
            roles=roles,
            is_admin=self.admin_role in roles,
        )
        self._remember(token, principal, float(claims["exp"]) + self.leeway)
        return principal

    def _remember(self, token: str, principal: Principal, expires: float) -> None:
        if self.cache_size <= 0:
            return
        self._verified[token] = (principal, expires)
        if len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)

    def _roles(self, claims: dict[str, Any]) -> frozenset[str]:
        """Keycloak puts realm roles in realm_access and client roles in resource_access.<client>."""
        roles: set[str] = set()
        realm = claims.get("realm_access")
        if isinstance(realm, dict) and isinstance(realm.get("roles"), list):
            roles.update(r for r in realm["roles"] if isinstance(r, str))
        resource = claims.get("resource_access")
        if isinstance(resource, dict):
            client = resource.get(self.audience)
            if isinstance(client, dict) and isinstance(client.get("roles"), list):
                roles.update(r for r in client["roles"] if isinstance(r, str))
        return frozenset(roles)
