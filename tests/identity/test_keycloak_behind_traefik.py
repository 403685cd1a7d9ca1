"""Keycloak behind Traefik, as the keycloak role deploys it (issue 14 item 2).

The tier's Keycloak runs with the rendered Deployment's options (HTTP behind a proxy:
proxy-headers xforwarded, proxy-trusted-addresses, hostname https://keycloak.local and
hostname-admin https://keycloak-admin.local) and Traefik routes the rendered Ingresses to it
(tests/identity/conftest.py). These tests fail when:

- the admin console or admin API (/admin), the master realm, metrics or health are published
  through the public host (issue 18 item 8; Keycloak 26 reverse-proxy guide, "Exposed path
  recommendations": only /realms/, /resources/ and /.well-known/ belong on the public side);
- the issuer or the endpoints a client sees behind the proxy differ from
  https://keycloak.local/realms/<realm> (the Task API's TASK_API_OIDC_ISSUER);
- X-Forwarded-* headers a client sends count beyond Traefik: Traefik must replace them (its
  entry point trusts no forwarded headers, as the platform's chart values set none) and Keycloak
  must honour them only from its proxy's addresses (proxy-trusted-addresses: "If set, then proxy
  headers from other addresses will be ignored. By default, all addresses are trusted",
  keycloak.org/server/all-config, category Proxy, Keycloak 26).

Each has a control showing the check can see the difference: the same request straight to
Keycloak's pod address, which the role trusts, does reach what the route hides, and forged
headers from there do change what Keycloak believes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import decode_compact
from keycloak_server import ISSUER, REALM, REPO, URL, _descendants

pytestmark = pytest.mark.identity

TOKEN_PATH = f"/realms/{REALM}/protocol/openid-connect/token"
DISCOVERY_PATH = f"/realms/{REALM}/.well-known/openid-configuration"
# Headers a client forges: another client address, scheme, host and port.
FORGED = {
    "X-Forwarded-For": "203.0.113.7",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "8443",
}


def keycloak_port(identity, name: str) -> int:
    container = next(
        c for c in identity.rendered_deployment()["spec"]["template"]["spec"]["containers"] if c["name"] == "keycloak"
    )
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def claims(token: str) -> dict:
    return decode_compact(token)[1]


def password_form(identity) -> dict:
    return {
        "grant_type": "password",
        "client_id": "task-api-cli",
        "username": "tester",
        "password": identity.credential("keycloak/test-user-password"),
        "scope": "openid",
    }


def session_address(identity, token: str) -> str:
    """The client address Keycloak recorded for the session of ``token`` (admin API)."""
    (user,) = identity.admin("GET", f"/{REALM}/users", params={"username": "tester", "exact": "true"}).json()
    sessions = identity.admin("GET", f"/{REALM}/users/{user['id']}/sessions").json()
    sid = claims(token).get("sid") or claims(token).get("session_state")
    found = [s for s in sessions if s["id"] == sid]
    assert found, (sid, sessions)
    return found[0]["ipAddress"]


def direct(identity, method: str, address: str, path: str, **kwargs):
    """A request straight to Keycloak's HTTP port at ``address`` (no Traefik), plain HTTP as
    Traefik speaks to it: from the pod's address it comes from the pod network the role trusts,
    from 127.0.0.1 it comes from outside it."""
    return identity.http(method, f"http://{address}:{keycloak_port(identity, 'http')}{path}", **kwargs)


def test_keycloak_runs_with_the_options_the_role_renders(identity):
    """The running JVM's environment holds every literal KC_* runtime option of the rendered
    container, with the rendered value (the tier changes only the database and the build)."""
    pids = [identity.keycloak.proc.pid, *_descendants(identity.keycloak.proc.pid)]
    java = [p for p in pids if b"java" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0]]
    assert len(java) == 1, pids
    environ = dict(
        item.split("=", 1) for item in Path(f"/proc/{java[0]}/environ").read_text().split("\0") if "=" in item
    )
    container = next(
        c for c in identity.rendered_deployment()["spec"]["template"]["spec"]["containers"] if c["name"] == "keycloak"
    )
    rendered = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    build = yaml.safe_load((REPO / "roles/keycloak/vars/main.yml").read_text())["__keycloak_build_options"]
    wanted = {k: v for k, v in rendered.items() if k not in build and k != "KC_DB_URL" and "$(" not in v}
    assert {"KC_PROXY_HEADERS", "KC_PROXY_TRUSTED_ADDRESSES", "KC_HOSTNAME", "KC_HOSTNAME_ADMIN"} <= wanted.keys()
    assert {k: environ.get(k) for k in wanted} == wanted
    assert rendered["KC_HOSTNAME"] == URL and rendered["KC_PROXY_HEADERS"] == "xforwarded"
    assert identity.keycloak.args[:2] == container["args"] == ["start", "--optimized"]


def test_the_admin_console_and_api_are_not_published_on_the_public_host(identity, converged):
    traefik = identity.traefik
    bearer = {"Authorization": f"Bearer {identity.admin_token()}"}
    hidden = [
        ("GET", "/admin/master/console/", {}),
        ("GET", "/admin/", {}),
        ("GET", f"/admin/realms/{REALM}", bearer),
        ("GET", f"/admin/realms/{REALM}/users", bearer),
        ("GET", "/realms/master/.well-known/openid-configuration", {}),
        ("POST", "/realms/master/protocol/openid-connect/token", {}),
        ("GET", "/metrics", {}),
        ("GET", "/health/ready", {}),
        ("GET", "/", {}),
    ]
    answers = {path: traefik.request(method, "keycloak.local", path, headers=h)[0] for method, path, h in hidden}
    assert answers == dict.fromkeys(answers, 404), answers
    # The admin host serves the console and the API (that is where the role calls it) ...
    assert traefik.request("GET", "keycloak-admin.local", "/admin/master/console/")[0] == 200
    admin = traefik.request("GET", "keycloak-admin.local", f"/admin/realms/{REALM}", headers=bearer)
    assert admin[0] == 200 and json.loads(admin[2])["realm"] == REALM, admin[:2]
    # ... and Keycloak itself would answer them on any host: only the route keeps them off the
    # public one (control: the 404s above are Traefik's, not Keycloak's).
    console = direct(identity, "GET", identity.pod_address, "/admin/master/console/", allow_redirects=False)
    assert console.status_code != 404, console.status_code
    # What the public host does publish reaches Keycloak.
    assert traefik.request("GET", "keycloak.local", DISCOVERY_PATH)[0] == 200


def test_the_issuer_behind_the_proxy_is_the_public_url(identity, converged):
    configmap = yaml.safe_load((REPO / "gitops/task-api/configmap.yaml").read_text())["data"]
    assert ISSUER == configmap["TASK_API_OIDC_ISSUER"] == f"https://keycloak.local/realms/{REALM}"
    traefik = identity.traefik
    status, _unused, body = traefik.request("GET", "keycloak.local", DISCOVERY_PATH)
    assert status == 200
    discovery = json.loads(body)
    assert discovery["issuer"] == ISSUER
    assert discovery["jwks_uri"] == configmap["TASK_API_JWKS_URL"]
    endpoints = {k: v for k, v in discovery.items() if k.endswith("_endpoint") and isinstance(v, str)}
    assert {k: v for k, v in endpoints.items() if not v.startswith(f"{ISSUER}/")} == {}
    # A token through Traefik carries the same issuer.
    token = identity.http("POST", f"{ISSUER}/protocol/openid-connect/token", data=password_form(identity))
    assert token.status_code == 200, token.text
    assert claims(token.json()["access_token"])["iss"] == ISSUER
    # Forged forwarded headers sent to Traefik change nothing: it replaces them.
    status, _unused, body = traefik.request("GET", "keycloak.local", DISCOVERY_PATH, headers=FORGED)
    assert status == 200 and json.loads(body) == discovery, body[:600]
    # Control: the same headers from an address Keycloak trusts (its proxy's network) do move
    # the back-channel endpoints (hostname-backchannel-dynamic), never the issuer (hostname).
    moved = direct(identity, "GET", identity.pod_address, DISCOVERY_PATH, headers=FORGED).json()
    assert moved["issuer"] == ISSUER
    assert moved["token_endpoint"].startswith("https://evil.example:8443/"), moved["token_endpoint"]


def test_forwarded_headers_count_only_from_the_proxy(identity, converged):
    form = password_form(identity)
    # Straight to Keycloak from 127.0.0.1, outside proxy-trusted-addresses: the forged headers are
    # ignored, Keycloak records the connection's own address and keeps the request's host.
    outside = direct(identity, "POST", "127.0.0.1", TOKEN_PATH, data=form, headers=FORGED)
    assert outside.status_code == 200, outside.text
    assert session_address(identity, outside.json()["access_token"]) == "127.0.0.1"
    endpoints = direct(identity, "GET", "127.0.0.1", DISCOVERY_PATH, headers=FORGED).json()
    assert "evil.example" not in json.dumps(endpoints), endpoints["token_endpoint"]
    # Control: the same from the pod network (Traefik's side) is believed, client address included.
    trusted = direct(identity, "POST", identity.pod_address, TOKEN_PATH, data=form, headers=FORGED)
    assert trusted.status_code == 200, trusted.text
    assert session_address(identity, trusted.json()["access_token"]) == FORGED["X-Forwarded-For"]
    # Through Traefik the forged client address goes no further: Keycloak records the address
    # Traefik saw (this process, 127.0.0.1 in the namespace).
    status, _unused, body = identity.traefik.request(
        "POST", "keycloak.local", TOKEN_PATH, body=_form(form),
        headers={**FORGED, "Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert status == 200, body[:600]
    token = json.loads(body)["access_token"]
    assert claims(token)["iss"] == ISSUER
    assert session_address(identity, token) == "127.0.0.1"


def test_plain_http_at_the_pod_is_not_refused_by_the_realm(identity, converged):
    """What keeps clients on HTTPS is the route (Traefik serves websecure only) and the
    NetworkPolicy (port 8080 only from Traefik and the Task API), not the realm's sslRequired:
    with a full-URL hostname Keycloak takes the scheme of its frontend URL (https) whatever the
    connection, so a plain-HTTP request without any forwarded header straight to the pod is
    served (observed on Keycloak 26.7.4)."""
    keys = direct(identity, "GET", "127.0.0.1", f"/realms/{REALM}/protocol/openid-connect/certs")
    token = direct(identity, "POST", "127.0.0.1", TOKEN_PATH, data=password_form(identity))
    print(
        f"\nplain HTTP at the pod: keys {keys.status_code} {keys.text[:80]!r}, token {token.status_code} {token.text[:80]!r}"
    )
    assert identity.admin("GET", f"/{REALM}").json()["sslRequired"] == "all"
    assert (keys.status_code, token.status_code) == (200, 200)


def _form(fields: dict) -> bytes:
    from urllib.parse import urlencode

    return urlencode(fields).encode()


def test_the_role_configures_keycloak_through_the_admin_route(identity, converged):
    """The keycloak role's admin API calls (keycloak_admin_url) went through Traefik's routes of
    the rendered keycloak-admin Ingress, as from the platform's controller; none took the public one."""
    lines = identity.traefik.access_log()
    admin_api = [line for line in lines if re.search(r'"(GET|PUT|POST|DELETE) /admin/realms/', line)]
    # Traefik's access log names the router after the backend ("-" when no route matched:
    # test_the_admin_console_and_api_are_not_published_on_the_public_host's own 404s).
    assert [line for line in admin_api if '"keycloak-0-' in line] == []
    assert len([line for line in admin_api if '"keycloak-admin-0-0@file"' in line]) >= 10, identity.traefik.log()
    assert any("/realms/master/protocol/openid-connect/token" in line and '"keycloak-admin-' in line for line in lines)
