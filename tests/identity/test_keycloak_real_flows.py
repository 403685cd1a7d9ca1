"""Every client's real flow against the real Keycloak (issue 14 items 4 and 5).

The Task API runs as its own process (python -m task_api serve) inside the tier's namespace,
with the real PostgreSQL and Keycloak's real JWKS at https://keycloak.local (local CA);
tokens come from Keycloak through the clients the keycloak role configures: task-api-cli
(password grant), argocd and grafana (authorization code flow, driven with requests).
"""

from __future__ import annotations

import base64
import html
import re
import secrets
import time
import urllib.parse

import jwt
import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import decode_compact
from cryptography.hazmat.primitives.asymmetric import rsa
from keycloak_server import ISSUER, REALM, REPO

pytestmark = pytest.mark.identity

TOKEN_URL = f"{ISSUER}/protocol/openid-connect/token"
AUTH_URL = f"{ISSUER}/protocol/openid-connect/auth"
USERINFO_URL = f"{ISSUER}/protocol/openid-connect/userinfo"


def claims(token: str) -> dict:
    """The payload of a JWT, unverified (the Task API and the checks below verify)."""
    return decode_compact(token)[1]


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def password_token(identity, client_id: str = "task-api-cli", **extra) -> str:
    response = identity.http(
        "POST",
        TOKEN_URL,
        data={
            "grant_type": "password",
            "client_id": client_id,
            "username": "tester",
            "password": identity.credential("keycloak/test-user-password"),
            "scope": "openid",
            **extra,
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


# --- the Task API and the CLI client ---------------------------------------------------


def test_a_cli_token_from_keycloak_is_accepted_by_the_task_api(identity, task_api_factory):
    token = password_token(identity)
    body = claims(token)
    # What Keycloak really puts there: the audience mapper's task-api, the CLI client as azp,
    # the public issuer, an access token.
    assert "task-api" in ([body["aud"]] if isinstance(body["aud"], str) else body["aud"]), body
    assert body["azp"] == "task-api-cli"
    assert body["iss"] == ISSUER
    assert body["typ"] == "Bearer"
    assert "task-admin" in body["realm_access"]["roles"]
    api = task_api_factory()
    created = api.post("/tasks", token, {"title": "from a real Keycloak token"})
    assert created.status_code == 201, created.text
    listed = api.get("/tasks", token)
    assert listed.status_code == 200, listed.text
    assert "from a real Keycloak token" in listed.text
    assert api.get("/tasks").status_code == 401


def test_a_token_for_another_audience_is_refused(identity, task_api_factory):
    # admin-cli of the same realm: a real Keycloak token, signed by the same key, without
    # the task-api audience.
    token = password_token(identity, client_id="admin-cli")
    audience = claims(token).get("aud", [])
    assert "task-api" not in ([audience] if isinstance(audience, str) else audience)
    api = task_api_factory()
    response = api.get("/tasks", token)
    assert response.status_code == 401, response.text


def test_an_id_token_is_refused(identity, task_api_factory):
    response = identity.http(
        "POST",
        TOKEN_URL,
        data={
            "grant_type": "password",
            "client_id": "task-api-cli",
            "username": "tester",
            "password": identity.credential("keycloak/test-user-password"),
            "scope": "openid",
        },
    )
    id_token = response.json()["id_token"]
    api = task_api_factory()
    assert api.get("/tasks", id_token).status_code == 401


def test_an_expired_token_is_refused(identity, task_api_factory):
    token = password_token(identity)
    body = claims(token)
    assert body["exp"] - body["iat"] == 30  # the realm's lifespan the role set
    api = task_api_factory()
    time.sleep(max(0.0, body["exp"] + 1 + 1.5 - time.time()))  # past exp and the 1 s leeway
    response = api.get("/tasks", token)
    assert response.status_code == 401, response.text


def _rsa_components(identity, realm_id: str):
    components = identity.admin("GET", f"/{REALM}/components", params={"type": "org.keycloak.keys.KeyProvider"}).json()
    return [c for c in components if c["providerId"] == "rsa-generated" and c["parentId"] == realm_id]


def test_after_key_rotation_new_tokens_work_and_the_old_key_is_refused(identity, task_api_factory):
    api = task_api_factory(jwks_min_refresh_interval=1)
    used = password_token(identity)
    unused = password_token(identity)
    assert api.get("/tasks", used).status_code == 200
    old_kid = header(unused)["kid"]

    realm_id = identity.admin("GET", f"/{REALM}").json()["id"]
    (old,) = [c for c in _rsa_components(identity, realm_id) if c["config"].get("enabled", ["true"]) == ["true"]]
    new = {
        "name": f"rsa-rotated-{secrets.token_hex(3)}",
        "providerId": "rsa-generated",
        "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": realm_id,
        "config": {
            "priority": ["200"],
            "enabled": ["true"],
            "active": ["true"],
            "keySize": ["2048"],
            "algorithm": ["RS256"],
        },
    }
    assert identity.admin("POST", f"/{REALM}/components", json=new).status_code == 201
    old["config"]["enabled"] = ["false"]
    assert identity.admin("PUT", f"/{REALM}/components/{old['id']}", json=old).status_code == 204
    published = {k["kid"] for k in identity.http("GET", f"{ISSUER}/protocol/openid-connect/certs").json()["keys"]}
    assert old_kid not in published

    time.sleep(1.2)  # the Task API's minimum refresh interval of this test
    rotated = password_token(identity)
    assert header(rotated)["kid"] != old_kid
    response = api.get("/tasks", rotated)
    assert response.status_code == 200, response.text + api.log()
    # Signed by the key Keycloak no longer publishes, and never seen by the service.
    time.sleep(1.2)
    response = api.get("/tasks", unused)
    assert response.status_code == 401, response.text


# --- Argo CD and Grafana: authorization code flow -----------------------------------------


def code_flow(identity, client_id: str, redirect_uri: str, scopes: list[str], pkce: str | None = "S256") -> dict:
    """The browser's part of the authorization code flow, then the client's token request:
    the token response, or the authorization error Keycloak redirects back with. With
    ``pkce`` (the method, as Argo CD and Grafana send S256) a code challenge goes with the
    authorization request and its verifier with the token request (RFC 7636)."""
    import hashlib

    import requests

    session = requests.Session()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(64)
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code",
              "scope": " ".join(scopes), "state": state, "nonce": nonce}  # fmt: skip
    if pkce == "S256":
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params.update(code_challenge=challenge, code_challenge_method="S256")
    elif pkce == "plain":
        params.update(code_challenge=verifier, code_challenge_method="plain")
    page = identity.session_call(session, "GET", AUTH_URL, params=params, allow_redirects=False)
    if page.status_code == 302:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.headers["Location"]).query)
        return {"authorization_error": query.get("error", ["?"])[0], "location": page.headers["Location"]}
    assert page.status_code == 200, page.text[:2000]
    action = html.unescape(re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text).group(1))
    login = identity.session_call(
        session, "POST", action,
        data={"username": "tester", "password": identity.credential("keycloak/test-user-password"), "credentialId": ""},
        allow_redirects=False,
    )  # fmt: skip
    assert login.status_code == 302, login.text[:2000]
    location = login.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["state"] == [state]
    tokens = identity.http(
        "POST", TOKEN_URL,
        data={"grant_type": "authorization_code", "code": query["code"][0], "redirect_uri": redirect_uri,
              "client_id": client_id, "client_secret": identity.credential(f"keycloak/client-{client_id}"),
              **({"code_verifier": verifier} if pkce else {})},
    )  # fmt: skip
    assert tokens.status_code == 200, tokens.text
    result = tokens.json()
    assert claims(result["id_token"])["nonce"] == nonce
    result["userinfo"] = identity.http(
        "GET", USERINFO_URL, headers={"Authorization": f"Bearer {result['access_token']}"}
    ).json()
    return result


def role_default(role: str, name: str):
    return yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text())[name]


def grafana_scopes() -> list[str]:
    text = (REPO / "roles" / "monitoring" / "templates" / "grafana.ini.j2").read_text()
    section = text[text.index("[auth.generic_oauth]") :]
    return re.search(r"^scopes\s*=\s*(.+)$", section, re.M).group(1).split()


def test_argocd_scopes_are_accepted_and_the_id_token_carries_the_groups(identity, converged):
    tester = identity.admin("GET", f"/{REALM}/users", params={"username": "tester", "exact": "true"}).json()[0]
    admins = next(g for g in identity.admin("GET", f"/{REALM}/groups").json() if g["name"] == "argocd-admins")
    assert identity.admin("PUT", f"/{REALM}/users/{tester['id']}/groups/{admins['id']}").status_code == 204
    scopes = role_default("argocd", "argocd_oidc_scopes")
    result = code_flow(identity, "argocd", "https://argocd.local/auth/callback", scopes)
    assert "authorization_error" not in result, result
    id_token = claims(result["id_token"])
    # Argo CD's RBAC matches its scopes (argocd_rbac_scopes) in the ID token.
    for claim in role_default("argocd", "argocd_rbac_scopes"):
        assert "argocd-admins" in id_token[claim], id_token
    assert "argocd-admins" in result["userinfo"]["groups"]


def test_a_scope_the_client_does_not_have_is_rejected(identity, converged):
    result = code_flow(identity, "grafana", "https://grafana.local/login/generic_oauth", ["openid", "groups"])
    assert result.get("authorization_error") == "invalid_scope", result


def test_grafana_scopes_are_accepted_and_its_role_path_finds_the_role(identity, converged):
    import jmespath

    scopes = grafana_scopes()
    result = code_flow(identity, "grafana", "https://grafana.local/login/generic_oauth", scopes)
    assert "authorization_error" not in result, result
    path = role_default("monitoring", "monitoring_grafana_oidc_role_attribute_path")
    # Grafana evaluates role_attribute_path on the ID token, then on userinfo.
    assert jmespath.search(path, claims(result["id_token"])) == "Editor", claims(result["id_token"])
    assert jmespath.search(path, result["userinfo"]) == "Editor", result["userinfo"]


def test_grafana_s_token_with_the_task_api_audience_is_refused_by_the_task_api(identity, converged, task_api_factory):
    """Keycloak's audience-resolve mapper (client scope `roles`) puts a client into `aud` of
    every token whose user holds one of that client's roles: once the tester holds a task-api
    client role, grafana's access token names task-api as audience. The Task API refuses it
    for its `azp` (grafana is not a client allowed to call it)."""
    api_client = identity.admin("GET", f"/{REALM}/clients", params={"clientId": "task-api"}).json()[0]
    tester = identity.admin("GET", f"/{REALM}/users", params={"username": "tester", "exact": "true"}).json()[0]
    role = {"name": "task-reader-azp-test"}
    created = identity.admin("POST", f"/{REALM}/clients/{api_client['id']}/roles", json=role)
    assert created.status_code in (201, 409), created.text
    role = identity.admin("GET", f"/{REALM}/clients/{api_client['id']}/roles/{role['name']}").json()
    mapping = f"/{REALM}/users/{tester['id']}/role-mappings/clients/{api_client['id']}"
    assert identity.admin("POST", mapping, json=[role]).status_code == 204
    try:
        result = code_flow(identity, "grafana", "https://grafana.local/login/generic_oauth", grafana_scopes())
        assert "authorization_error" not in result, result
        token = result["access_token"]
        body = claims(token)
        audience = [body["aud"]] if isinstance(body["aud"], str) else body["aud"]
        assert "task-api" in audience, body  # the premise: the audience alone would let it in
        assert body["azp"] == "grafana", body
        api = task_api_factory()
        assert api.get("/tasks", token).status_code == 401
        assert api.get("/tasks", password_token(identity)).status_code == 200  # the CLI client's still works
    finally:
        identity.admin("DELETE", mapping, json=[role])
        identity.admin("DELETE", f"/{REALM}/clients/{api_client['id']}/roles/{role['name']}")


@pytest.mark.parametrize("client_id", ["argocd", "grafana"])
@pytest.mark.parametrize("pkce", [None, "plain"])
def test_a_code_flow_without_an_s256_challenge_is_refused(identity, converged, client_id, pkce):
    """Review L7: the web clients require PKCE with S256 (pkce.code.challenge.method): an
    authorization request without a code challenge, or with the plain method, is sent back
    with invalid_request before any login page."""
    redirect = {"argocd": "https://argocd.local/auth/callback", "grafana": "https://grafana.local/login/generic_oauth"}
    result = code_flow(identity, client_id, redirect[client_id], ["openid"], pkce=pkce)
    assert result.get("authorization_error") == "invalid_request", result
    assert result["location"].startswith(redirect[client_id] + "?"), result


def test_the_realm_refuses_a_password_its_policy_forbids(identity, converged):
    """Review L7: the realm's password policy (keycloak_password_policy) is Keycloak's: a
    short password, or one equal to the user name, is refused when it is set."""
    realm = identity.admin("GET", f"/{REALM}").json()
    assert (
        realm["passwordPolicy"]
        == yaml.safe_load((REPO / "roles" / "keycloak" / "defaults" / "main.yml").read_text())[
            "keycloak_password_policy"
        ]
    )
    tester = identity.admin("GET", f"/{REALM}/users", params={"username": "tester", "exact": "true"}).json()[0]
    for bad in ("short-pw", "tester"):
        answer = identity.admin(
            "PUT", f"/{REALM}/users/{tester['id']}/reset-password",
            json={"type": "password", "value": bad, "temporary": False},
        )  # fmt: skip
        assert answer.status_code == 400, (bad, answer.status_code, answer.text)
    # The control: a password the policy admits is accepted (for a new user: the other tests
    # log in as the tester with its credential).
    created = identity.admin(
        "POST", f"/{REALM}/users",
        json={"username": f"policy-{secrets.token_hex(3)}", "enabled": True, "email": "p@example.com",
              "credentials": [{"type": "password", "value": secrets.token_urlsafe(18), "temporary": False}]},
    )  # fmt: skip
    assert created.status_code == 201, created.text


# --- the Task API while Keycloak is down ---------------------------------------------------


def test_while_keycloak_is_down_cached_keys_work_and_unknown_kids_get_401(identity, task_api_factory):
    api = task_api_factory(jwks_min_refresh_interval=4, jwks_timeout=2)
    seen = password_token(identity)
    fresh = password_token(identity)  # same key, never shown to the service before
    assert api.get("/tasks", seen).status_code == 200
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode(
        {**claims(fresh), "iat": now, "exp": now + 60},
        key, algorithm="RS256", headers={"kid": "not-a-keycloak-key"},
    )  # fmt: skip
    identity.keycloak.pause()
    try:
        assert api.get("/tasks", fresh).status_code == 200
        # The service loaded the JWKS before it was ready: past its 4 s minimum interval, the
        # first unknown kid may try one refresh (which hangs until the 2 s timeout), no more.
        time.sleep(4.5)
        statuses = [api.get("/tasks", forged).status_code for _unused in range(5)]
        assert statuses == [401] * 5, statuses
        assert api.get("/tasks", seen).status_code == 200
    finally:
        identity.keycloak.resume()
    failures = api.log().count("JWKS fetch failed")
    assert failures == 1, api.log()


# --- the CLI client's device flow (keycloak_test_device_flow) -----------------------------

DEVICE_URL = f"{ISSUER}/protocol/openid-connect/auth/device"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def s256_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge (RFC 7636 section 4.2)."""
    import hashlib

    verifier = secrets.token_urlsafe(64)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _approve_device(identity, verification_uri_complete: str) -> str:
    """The user's part in a browser elsewhere: open the verification URI, log in, grant the
    access if Keycloak asks; returns the last page's text."""
    import requests

    session = requests.Session()
    page = identity.session_call(session, "GET", verification_uri_complete)
    assert page.status_code == 200, page.text[:2000]
    form = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    assert form, page.text[:3000]
    page = identity.session_call(
        session, "POST", html.unescape(form.group(1)),
        data={"username": "tester", "password": identity.credential("keycloak/test-user-password"), "credentialId": ""},
    )  # fmt: skip
    assert page.status_code == 200, page.text[:2000]
    # Keycloak asks the user to grant the device its access (the consent page; its form
    # action is relative to the page).
    consent = re.search(r'<form[^>]*action="([^"]+)"[^>]*>((?:(?!</form>).)*name="accept"(?:(?!</form>).)*)</form>',
                        page.text, re.S)  # fmt: skip
    if consent:
        hidden = dict(re.findall(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', consent.group(2)))
        action = urllib.parse.urljoin(page.url, html.unescape(consent.group(1)))
        page = identity.session_call(session, "POST", action, data={**hidden, "accept": "Yes"})
        assert page.status_code == 200, page.text[:2000]
    return page.text


def test_the_device_flow_is_off_by_default(identity, converged):
    response = identity.http("POST", DEVICE_URL, data={"client_id": "task-api-cli", "scope": "openid"})
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == "unauthorized_client", response.text


def test_the_device_flow_gives_a_token_the_task_api_accepts(identity, run_role, task_api_factory):
    result = run_role(keycloak_test_device_flow=True)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "client task-api-cli: attributes.oauth2.device.authorization.grant.enabled" in result.stdout
    try:
        # Every client of the role requires PKCE S256 (review L7); Keycloak asks it of the
        # device grant too: the challenge goes with the device request, the verifier with each poll.
        verifier, challenge = s256_pair()
        started = identity.http(
            "POST", DEVICE_URL,
            data={"client_id": "task-api-cli", "scope": "openid", "code_challenge": challenge,
                  "code_challenge_method": "S256"},
        )  # fmt: skip
        assert started.status_code == 200, started.text
        device = started.json()
        assert device["verification_uri"] == f"{ISSUER}/device", device
        pending = identity.http(
            "POST", TOKEN_URL,
            data={"grant_type": DEVICE_GRANT, "client_id": "task-api-cli", "device_code": device["device_code"],
                  "code_verifier": verifier},
        )  # fmt: skip
        assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending", pending.text
        _approve_device(identity, device["verification_uri_complete"])
        time.sleep(device.get("interval", 5))  # polling faster gets slow_down
        tokens = identity.http(
            "POST", TOKEN_URL,
            data={"grant_type": DEVICE_GRANT, "client_id": "task-api-cli", "device_code": device["device_code"],
                  "code_verifier": verifier},
        )  # fmt: skip
        assert tokens.status_code == 200, tokens.text
        token = tokens.json()["access_token"]
        body = claims(token)
        assert body["azp"] == "task-api-cli" and body["iss"] == ISSUER and body["preferred_username"] == "tester"
        api = task_api_factory()
        created = api.post("/tasks", token, {"title": "from the device flow"})
        assert created.status_code == 201, created.text
    finally:
        again = run_role()
        assert again.returncode == 0, again.stdout[-4000:]
    response = identity.http("POST", DEVICE_URL, data={"client_id": "task-api-cli", "scope": "openid"})
    assert response.status_code in (400, 401), response.text
