"""The keycloak role against the real Keycloak (issue 14 items 1, 3 and 5).

The role runs as an operator runs it (ansible-playbook, tag keycloak_configure) inside the
tier's network namespace, against https://keycloak-admin.local with the local CA: through the
tier's Traefik and the keycloak role's rendered admin Ingress, as from the platform's controller.
"""

import re
import shutil

import pytest
from keycloak_server import NAMES, REALM

pytestmark = pytest.mark.identity


def recap(result) -> dict[str, int]:
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", result.stdout)
    assert match, result.stdout[-3000:] + result.stderr[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


def output(result) -> str:
    return result.stdout[-6000:] + result.stderr[-3000:]


def said_changes(result) -> str:
    """The output of the role's summary task (configure_api.yml "Say what changed")."""
    marker = "TASK [gauntlet.platform.keycloak : configure_api | Say what changed]"
    assert marker in result.stdout, output(result)
    # The debug task's msg lines as the callback prints them, JSON-quoted ("true" -> \"true\").
    return result.stdout[result.stdout.index(marker) :].split("TASK [", 2)[1].replace('\\"', '"')


def test_keycloak_starts_in_production_mode(identity):
    # Through Traefik's admin route (the master realm is not on the public host).
    response = identity.http("GET", "https://keycloak-admin.local/realms/master/.well-known/openid-configuration")
    assert response.status_code == 200
    # keycloak.local (hostname) until the role sets the master realm's frontend URL, then keycloak-admin.local.
    assert response.json()["issuer"] in {f"https://{name}/realms/master" for name in NAMES[:2]}, response.json()
    # Production mode (`start`, never start-dev), as the rendered Deployment runs it.
    assert identity.keycloak.args[:2] == ["start", "--optimized"]
    # Started within keycloak_server.START_TIMEOUT (the fixture fails otherwise); how long it
    # took is printed with -s and recorded in docs/testing.md.
    assert identity.keycloak.startup_seconds is not None


def test_the_first_run_configures_the_realm(identity, converged):
    assert recap(converged)["changed"] > 0, output(converged)
    realm = identity.admin("GET", f"/{REALM}").json()
    assert realm["sslRequired"] == "all"
    assert realm["accessTokenLifespan"] == 30
    clients = {c["clientId"]: c for c in identity.admin("GET", f"/{REALM}/clients").json()}
    assert {"task-api", "task-api-cli", "grafana", "argocd"} <= clients.keys()
    assert clients["argocd"]["redirectUris"] == ["https://argocd.local/auth/callback"]
    groups = {g["name"] for g in identity.admin("GET", f"/{REALM}/groups").json()}
    assert {"argocd-admins", "argocd-viewers"} <= groups


def test_the_second_run_changes_nothing(converged, run_role):
    result = run_role()
    assert result.returncode == 0, output(result)
    assert recap(result)["changed"] == 0, output(result)


def test_check_diff_on_the_converged_realm_changes_nothing(converged, run_role):
    result = run_role("--check", "--diff")
    assert result.returncode == 0, output(result)
    assert recap(result)["changed"] == 0, output(result)


def test_a_realm_changed_by_hand_is_converged_back(identity, converged, run_role):
    realm = identity.admin("GET", f"/{REALM}").json()
    assert identity.admin("PUT", f"/{REALM}", json={**realm, "accessTokenLifespan": 3600}).status_code == 204
    clients = {c["clientId"]: c for c in identity.admin("GET", f"/{REALM}/clients").json()}
    argocd = clients["argocd"]
    changed = {**argocd, "redirectUris": ["https://evil.example/callback"]}
    assert identity.admin("PUT", f"/{REALM}/clients/{argocd['id']}", json=changed).status_code == 204
    viewers = next(g for g in identity.admin("GET", f"/{REALM}/groups").json() if g["name"] == "argocd-viewers")
    assert identity.admin("DELETE", f"/{REALM}/groups/{viewers['id']}").status_code == 204
    # A mapper of a client scope: the groups claim with full paths (/argocd-admins), which
    # Argo CD's RBAC would no longer match.
    scope = next(s for s in identity.admin("GET", f"/{REALM}/client-scopes").json() if s["name"] == "groups")
    mapper = next(m for m in scope["protocolMappers"] if m["name"] == "groups")
    mapper["config"]["full.path"] = "true"
    path = f"/{REALM}/client-scopes/{scope['id']}/protocol-mappers/models/{mapper['id']}"
    assert identity.admin("PUT", path, json=mapper).status_code == 204

    result = run_role()
    assert result.returncode == 0, output(result)
    assert recap(result)["changed"] >= 4, output(result)
    # The role says what it changed, by name and field, without a secret (its configuration
    # calls are no_log: without the summary the run says only "changed").
    said = said_changes(result)
    assert re.search(r"realm gauntlet: accessTokenLifespan 3600 -> 30", said), said
    assert re.search(r"client argocd: redirectUris .*evil\.example.* -> .*argocd\.local/auth/callback", said), said
    assert "group argocd-viewers: created" in said, said
    assert re.search(
        r"client scope groups: protocolMappers\[groups\]\.config\.full\.path \"true\" -> \"false\"", said
    ), said
    for secret in [identity.credential("keycloak/test-user-password"), identity.credential("keycloak/client-argocd"),
                   identity.credential("keycloak/client-grafana"), identity.keycloak.admin_password]:  # fmt: skip
        assert secret not in result.stdout + result.stderr
    assert identity.admin("GET", f"/{REALM}").json()["accessTokenLifespan"] == 30
    argocd = identity.admin("GET", f"/{REALM}/clients/{argocd['id']}").json()
    assert argocd["redirectUris"] == ["https://argocd.local/auth/callback"]
    assert "argocd-viewers" in {g["name"] for g in identity.admin("GET", f"/{REALM}/groups").json()}
    again = run_role()
    assert recap(again)["changed"] == 0, output(again)
    assert "Keycloak: nothing to change" in said_changes(again), output(again)


def test_keycloak_down_fails_clearly_naming_the_url(converged, run_role):
    # Nothing listens on 8444 of the namespace: Keycloak is down for the role.
    result = run_role(
        keycloak_admin_url="https://keycloak-admin.local:8444", keycloak_wait_retries=2, keycloak_wait_delay=1
    )
    text = output(result)
    assert result.returncode != 0, text
    assert "Traceback" not in text
    failed = [line for line in result.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
    assert failed, text
    message = result.stdout[result.stdout.index(failed[0]) :]
    assert "https://keycloak-admin.local:8444" in message.split("PLAY RECAP")[0]
    assert re.search(r"does not answer|did not answer", message), text


def test_a_wrong_admin_password_fails_clearly(identity, converged, run_role, tmp_path):
    wrong = tmp_path / "credentials"
    shutil.copytree(identity.credentials, wrong)
    (wrong / "keycloak" / "admin-password").write_text("not-the-password\n")
    result = run_role(gauntlet_credentials_dir=str(wrong))
    text = output(result)
    assert result.returncode != 0, text
    assert "Traceback" not in text
    assert "not-the-password" not in text
    assert "refused the login of administrator admin" in text, text
    assert "Invalid user credentials" in text, text
    assert str(wrong / "keycloak" / "admin-password") in text, text
