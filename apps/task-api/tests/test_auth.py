"""The JWT negative suite: every bad token is a 401 with a Bearer challenge, never a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from task_api.app import create_app
from task_api_dev.services import KID, public_jwk


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def assert_401(response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "missing or invalid bearer token"}
    assert response.headers["www-authenticate"].startswith("Bearer")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_token_is_accepted(client, tokens, user):
    assert client.get("/tasks", headers=tokens.headers(user)).status_code == 200


@pytest.mark.parametrize("method", ["get", "post"])
def test_no_token(client, method):
    response = getattr(client, method)("/tasks")
    assert_401(response)
    assert "error=" not in response.headers["www-authenticate"]


def test_no_token_beats_a_malformed_body(client):
    # Anonymous callers learn nothing about the schema: 401 before the body is parsed.
    response = client.post("/tasks", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_401(response)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc", "bearer"])
def test_wrong_scheme_or_empty_token(client, header):
    assert_401(client.get("/tasks", headers={"Authorization": header}))


def test_alg_none(client, tokens, user):
    claims = tokens.claims(user)
    for alg in ("none", "None", "NONE"):
        token = f"{segment({'alg': alg, 'typ': 'JWT', 'kid': KID})}.{segment(claims)}."
        assert_401(client.get("/tasks", headers=bearer(token)))


def test_hs256_signed_with_the_public_key(client, tokens, user, public_pem):
    header = segment({"alg": "HS256", "typ": "JWT", "kid": KID})
    payload = segment(tokens.claims(user))
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert_401(client.get("/tasks", headers=bearer(f"{header}.{payload}.{b64(signature)}")))


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256"])
def test_other_rsa_algorithms_are_refused(client, tokens, user, signing_key, alg):
    token = jwt.encode(tokens.claims(user), signing_key, algorithm=alg, headers={"kid": KID})
    assert_401(client.get("/tasks", headers=bearer(token)))


def test_wrong_issuer(client, tokens, user):
    assert_401(client.get("/tasks", headers=tokens.headers(user, iss="https://evil.example/realms/gauntlet")))


def test_missing_issuer(client, tokens, user):
    assert_401(client.get("/tasks", headers=tokens.headers(user, iss=None)))


@pytest.mark.parametrize("aud", ["account", ["account", "other"], None])
def test_wrong_or_missing_audience(client, tokens, user, aud):
    assert_401(client.get("/tasks", headers=tokens.headers(user, aud=aud)))


def test_audience_list_containing_ours_is_accepted(client, tokens, user):
    assert client.get("/tasks", headers=tokens.headers(user, aud=["account", "task-api"])).status_code == 200


@pytest.mark.parametrize("azp", ["grafana", "argocd", "", None])
def test_a_token_issued_to_another_client_is_refused(client, tokens, user, azp):
    # Keycloak's audience-resolve mapper (client scope `roles`) puts task-api into the `aud` of
    # any client's token once the user holds a task-api client role: grafana's token would
    # pass the audience check. Only the clients allowed to call the API may (azp).
    assert_401(client.get("/tasks", headers=tokens.headers(user, aud=["grafana", "task-api"], azp=azp)))


def test_a_token_of_the_api_s_own_service_account_is_accepted(client, tokens, user):
    assert client.get("/tasks", headers=tokens.headers(user, azp="task-api")).status_code == 200


def test_expired(client, tokens, user):
    now = int(time.time())
    assert_401(client.get("/tasks", headers=tokens.headers(user, iat=now - 600, exp=now - 60)))


def test_expired_within_leeway_is_accepted(client, tokens, user):
    # The test app allows 10 s of clock skew.
    now = int(time.time())
    assert client.get("/tasks", headers=tokens.headers(user, exp=now - 3)).status_code == 200


def test_missing_exp(client, tokens, user):
    assert_401(client.get("/tasks", headers=tokens.headers(user, exp=None)))


def test_nbf_in_the_future(client, tokens, user):
    assert_401(client.get("/tasks", headers=tokens.headers(user, nbf=int(time.time()) + 120)))


def test_nbf_within_leeway_is_accepted(client, tokens, user):
    assert client.get("/tasks", headers=tokens.headers(user, nbf=int(time.time()) + 3)).status_code == 200


def test_missing_subject(client, tokens, user):
    assert_401(client.get("/tasks", headers=tokens.headers(user, sub=None)))
    assert_401(client.get("/tasks", headers=tokens.headers("")))


def test_keycloak_id_token_is_not_an_access_token(client, tokens, user):
    assert_401(client.get("/tasks", headers=tokens.headers(user, typ="ID")))
    assert_401(client.get("/tasks", headers=tokens.headers(user, typ="Refresh")))
    assert client.get("/tasks", headers=tokens.headers(user, typ="Bearer")).status_code == 200


def test_tampered_payload(client, tokens, user):
    header, _unused, signature = tokens.token(user).split(".")
    forged = segment(tokens.claims(user, realm_access={"roles": ["task-admin"]}))
    assert_401(client.get("/tasks", headers=bearer(f"{header}.{forged}.{signature}")))


def test_tampered_signature(client, tokens, user):
    token = tokens.token(user)
    flipped = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_401(client.get("/tasks", headers=bearer(flipped)))


def test_signed_by_another_key_with_our_kid(client, tokens, user):
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_401(client.get("/tasks", headers=bearer(tokens.token(user, key=rogue))))


def test_unknown_kid(client, tokens, user):
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_401(client.get("/tasks", headers=bearer(tokens.token(user, key=rogue, kid="rogue"))))


def test_missing_kid(client, tokens, user, signing_key):
    token = jwt.encode(tokens.claims(user), signing_key, algorithm="RS256")
    assert_401(client.get("/tasks", headers=bearer(token)))


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "a.b",
        "...",
        "e30.e30.",
        "eyJhbGciOiJSUzI1NiJ9.!!!.sig",
        b64(b"[1,2]") + ".e30.sig",
        b64(b'{"alg":"RS256","kid":5}') + ".e30.sig",
        b64(b'{"alg":"RS256","kid":"test-key-1"}') + "." + b64(b"not json") + ".c2ln",
        b64(b'{"alg":"RS256","kid":"test-key-1"}') + "." + b64(b"[]") + ".c2ln",
        b64(b'{"alg":"RS256","kid":"test-key-1","crit":["x"]}') + ".e30.c2ln",
        "é.é.é",
    ],
)
def test_malformed_tokens(client, token):
    assert_401(client.get("/tasks", headers={"Authorization": ("Bearer " + token).encode("utf-8")}))


def test_oversized_token(client, tokens, user):
    token = tokens.token(user, padding="x" * 10_000)
    assert_401(client.get("/tasks", headers=bearer(token)))


def test_unauthenticated_requests_are_counted_by_route_template(client):
    client.get(f"/tasks/{uuid.uuid4()}")
    metrics = client.get("/metrics").text
    assert 'route="/tasks/{task_id}",status="401"' in metrics


# --------------------------------------------------------------------- key rotation and the cache


def test_no_network_call_per_request(make_settings, jwks_server, tokens, user):
    with TestClient(create_app(make_settings())) as client:
        before = jwks_server.fetches
        for _unused in range(5):
            assert client.get("/tasks", headers=tokens.headers(user)).status_code == 200
        assert jwks_server.fetches == before


def test_unknown_kid_refresh_is_rate_limited(make_settings, jwks_server, tokens, user):
    rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with TestClient(create_app(make_settings(jwks_min_refresh_interval=0.5))) as client:
        time.sleep(0.6)  # let the startup fetch age past the interval
        before = jwks_server.fetches
        for i in range(10):
            assert_401(client.get("/tasks", headers=bearer(tokens.token(user, key=rogue, kid=f"forged-{i}"))))
        assert jwks_server.fetches == before + 1


def test_rotated_key_is_picked_up_on_unknown_kid(make_settings, jwks_server, tokens, user, signing_key):
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    original = list(jwks_server.keys)
    with TestClient(create_app(make_settings(jwks_min_refresh_interval=0.2))) as client:
        try:
            jwks_server.keys = [*original, public_jwk(new_key, "rotated")]
            time.sleep(0.3)
            token = tokens.token(user, key=new_key, kid="rotated")
            assert client.get("/tasks", headers=bearer(token)).status_code == 200
            # the old key keeps working while both are published
            assert client.get("/tasks", headers=tokens.headers(user)).status_code == 200
        finally:
            jwks_server.keys = original


def test_jwks_keys_for_other_uses_are_ignored(make_settings, jwks_server, tokens, user, signing_key):
    enc = {**public_jwk(signing_key, "enc-key"), "use": "enc", "alg": "RSA-OAEP"}
    original = list(jwks_server.keys)
    jwks_server.keys = [*original, enc]
    try:
        with TestClient(create_app(make_settings())) as client:
            token = tokens.token(user, kid="enc-key")
            assert_401(client.get("/tasks", headers=bearer(token)))
    finally:
        jwks_server.keys = original


def test_keycloak_down_at_startup_is_not_fatal(make_settings, tokens, user):
    settings = make_settings(jwks_url="http://127.0.0.1:9/certs", jwks_timeout=0.5)
    with TestClient(create_app(settings)) as client:
        assert_401(client.get("/tasks", headers=tokens.headers(user)))
        assert client.get("/readyz").json()["jwks_loaded"] is False


# --------------------------------------------------------------------- verified-token cache


def _verifier(jwks_server, **overrides):
    from task_api.auth import JwksCache, TokenVerifier

    jwks = JwksCache(jwks_server.url, min_refresh_interval=30, timeout=2)
    options = {
        "issuer": jwks_server.issuer,
        "audience": "task-api",
        "leeway": 0,
        "max_token_bytes": 8192,
        "admin_role": "task-admin",
    }
    options.update(overrides)
    return TokenVerifier(jwks, **options)


def test_cached_token_still_expires(jwks_server, tokens, user, monkeypatch):
    import task_api.auth as auth_module
    from task_api.auth import AuthError

    now = time.time()
    token = tokens.token(user, iat=int(now), exp=int(now) + 60)

    async def scenario():
        verifier = _verifier(jwks_server)
        try:
            assert (await verifier.verify(token)).subject == user
            fetches = jwks_server.fetches
            assert (await verifier.verify(token)).subject == user  # served from the cache
            assert jwks_server.fetches == fetches
            # Past exp the cache must not answer: with the keys gone, a full
            # verification is the only path left, and it fails.
            verifier.jwks._keys = {}
            verifier.jwks.min_refresh_interval = 1e9
            assert (await verifier.verify(token)).subject == user  # still cached before exp
            monkeypatch.setattr(auth_module.time, "time", lambda: now + 120)
            with pytest.raises(AuthError):
                await verifier.verify(token)
            assert token not in verifier._verified
        finally:
            await verifier.jwks.aclose()

    import asyncio

    asyncio.run(scenario())


def test_cache_is_bounded(jwks_server, tokens):
    import asyncio

    async def scenario():
        verifier = _verifier(jwks_server, cache_size=3)
        try:
            for i in range(10):
                await verifier.verify(tokens.token(f"user-{i}"))
            assert len(verifier._verified) == 3
        finally:
            await verifier.jwks.aclose()

    asyncio.run(scenario())


def test_periodic_refresh_picks_up_new_keys_without_a_miss(make_settings, jwks_server, tokens, user):
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    original = list(jwks_server.keys)
    # Unknown-kid refreshes are effectively off here: only the background task can help.
    settings = make_settings(jwks_refresh_interval=0.2, jwks_min_refresh_interval=3600)
    with TestClient(create_app(settings)) as client:
        try:
            jwks_server.keys = [*original, public_jwk(new_key, "background")]
            deadline = time.monotonic() + 5
            token = tokens.token(user, key=new_key, kid="background")
            while client.get("/tasks", headers=bearer(token)).status_code != 200:
                assert time.monotonic() < deadline, "the background refresh never loaded the new key"
                time.sleep(0.1)
        finally:
            jwks_server.keys = original


def test_token_cache_can_be_disabled(jwks_server, tokens, user):
    import asyncio

    async def scenario():
        verifier = _verifier(jwks_server, cache_size=0)
        try:
            await verifier.verify(tokens.token(user))
            assert len(verifier._verified) == 0
        finally:
            await verifier.jwks.aclose()

    asyncio.run(scenario())


def test_every_task_route_is_behind_the_guard():
    from task_api.guard import AuthGuardMiddleware
    from task_api.routes import router

    guard = AuthGuardMiddleware(None, verifier_getter=lambda: None)
    assert router.routes
    for route in router.routes:
        assert guard._protected(route.path.replace("{task_id}", "x")), route.path


def test_a_route_reached_without_the_guard_is_still_401(make_settings):
    # Defence in depth: the dependency refuses a request the guard did not authenticate.
    from task_api.guard import AuthGuardMiddleware

    app = create_app(make_settings())
    app.user_middleware = [m for m in app.user_middleware if m.cls is not AuthGuardMiddleware]
    app.state.verifier = None  # had the guard run, this would be a 500
    with TestClient(app) as client:
        response = client.get("/tasks")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_fuzzed_tokens_are_401_never_500(client, tokens, user):
    """Seeded random junk, plausible headers with hostile values, and truncations."""
    import random

    rng = random.Random(20260926)  # noqa: S311 - reproducible fuzzing, not cryptography
    valid = tokens.token(user)
    header, payload, signature = valid.split(".")
    hostile_headers = [
        {"alg": ["RS256"], "kid": KID},
        {"alg": "RS256", "kid": [KID]},
        {"alg": "RS256", "kid": {"$ne": ""}},
        {"alg": "RS256", "kid": "../../etc/passwd"},
        {"alg": "RS256", "kid": KID, "jku": "http://127.0.0.1:9/evil"},
        {"alg": "RS256", "kid": KID, "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
        {"alg": "RS256", "kid": KID, "b64": False, "crit": ["b64"]},
        {"alg": None, "kid": KID},
        {},
    ]
    candidates = [f"{segment(h)}.{payload}.{signature}" for h in hostile_headers]
    candidates += [valid[:cut] for cut in range(0, len(valid), 37)]
    candidates += [f"{header}.{segment(p)}.{signature}" for p in ({"sub": 1}, {"exp": "never"}, {"aud": 5}, [])]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "
    for _unused in range(60):
        candidates.append("".join(rng.choice(alphabet) for _unused in range(rng.randint(1, 400))))
    for token in candidates:
        response = client.get("/tasks", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (token, response.status_code, response.text)


# --------------------------------------------------------------------- JWKS over HTTPS


def test_jwks_over_https_is_verified_against_the_ca_file(tmp_path, signing_key):
    """The platform's realm requires HTTPS: the Task API fetches the keys at the public URL,
    trusting only the CA of TASK_API_JWKS_CA_FILE (the platform's local CA)."""
    import asyncio

    from task_api.auth import JwksCache
    from task_api_dev.services import JwksServer, make_tls_material

    tls = make_tls_material(tmp_path / "tls")
    other = make_tls_material(tmp_path / "other")
    server = JwksServer(tls=tls)
    server.keys = [public_jwk(signing_key, KID)]
    try:
        assert server.url.startswith("https://127.0.0.1:")

        def refresh(**options):
            async def run():
                cache = JwksCache(server.url, min_refresh_interval=0, timeout=5, **options)
                try:
                    return await cache.refresh(), set(cache._keys)
                finally:
                    await cache.aclose()

            return asyncio.run(run())

        assert refresh(ca_file=str(tls.ca_file)) == (True, {KID})
        assert refresh(ca_file=str(other.ca_file)) == (False, set())  # another CA: refused
        assert refresh() == (False, set())  # the system store does not know the local CA
        assert server.fetches == 1
    finally:
        server.close()


def test_a_subject_postgresql_cannot_store_is_401_not_500(client, tokens):
    """A signed token whose sub holds NUL (PostgreSQL text cannot) is refused like any bad token."""
    assert_401(client.get("/tasks", headers=tokens.headers("user\x00evil")))
    assert_401(client.post("/tasks", json={"title": "x"}, headers=tokens.headers("\x00")))
