"""The verified-token cache forgets everything when the JWKS key set changes.

A token is remembered until its exp so a client reusing it skips the RS256 check;
but once Keycloak's key set changes (a key removed after a rotation, or replaced
under the same kid), tokens signed by the old key must be checked again against
the keys the service now trusts, and fail.
"""

from __future__ import annotations

import asyncio

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from task_api.auth import AuthError, JwksCache, TokenVerifier
from task_api_dev.services import JwksServer, TokenFactory, public_jwk


@pytest.fixture
def own_jwks():
    """A JWKS of this test alone (the session's is shared by every test)."""
    server = JwksServer()
    yield server
    server.close()


def _verifier(server: JwksServer) -> TokenVerifier:
    jwks = JwksCache(server.url, min_refresh_interval=0, timeout=2)
    return TokenVerifier(
        jwks, issuer=server.issuer, audience="task-api", leeway=0, max_token_bytes=8192, admin_role="task-admin"
    )


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_a_removed_key_drops_the_tokens_it_signed(own_jwks):
    old, new = _key(), _key()
    own_jwks.keys = [public_jwk(old, "old")]
    old_token = TokenFactory(old, own_jwks.issuer).token("alice", kid="old")
    new_token = TokenFactory(new, own_jwks.issuer).token("bob", kid="new")

    async def scenario():
        verifier = _verifier(own_jwks)
        try:
            await verifier.jwks.refresh()
            assert (await verifier.verify(old_token)).subject == "alice"
            assert old_token in verifier._verified
            # Keycloak rotates: the new key is published, the old one removed.
            own_jwks.keys = [public_jwk(new, "new")]
            assert (await verifier.verify(new_token)).subject == "bob"  # unknown kid: refresh
            with pytest.raises(AuthError, match="unknown signing key"):
                await verifier.verify(old_token)
        finally:
            await verifier.jwks.aclose()

    asyncio.run(scenario())


def test_a_key_replaced_under_the_same_kid_drops_the_tokens(own_jwks):
    first, second = _key(), _key()
    own_jwks.keys = [public_jwk(first, "k")]
    token = TokenFactory(first, own_jwks.issuer).token("alice", kid="k")

    async def scenario():
        verifier = _verifier(own_jwks)
        try:
            await verifier.jwks.refresh()
            assert (await verifier.verify(token)).subject == "alice"
            own_jwks.keys = [public_jwk(second, "k")]
            assert await verifier.jwks.refresh()  # the periodic refresh does the same
            with pytest.raises(AuthError, match="token rejected"):
                await verifier.verify(token)
        finally:
            await verifier.jwks.aclose()

    asyncio.run(scenario())


def test_an_unchanged_key_set_keeps_the_cache(own_jwks):
    key = _key()
    own_jwks.keys = [public_jwk(key, "k")]
    token = TokenFactory(key, own_jwks.issuer).token("alice", kid="k")

    async def scenario():
        verifier = _verifier(own_jwks)
        try:
            await verifier.jwks.refresh()
            await verifier.verify(token)
            assert await verifier.jwks.refresh()
            verifier.jwks._keys = {}  # a cache hit needs no key: prove the hit
            assert (await verifier.verify(token)).subject == "alice"
        finally:
            await verifier.jwks.aclose()

    asyncio.run(scenario())
