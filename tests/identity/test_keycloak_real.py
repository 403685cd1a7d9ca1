"""The keycloak role against the real Keycloak (issue 14 items 1, 3 and 5).

The role runs as an operator runs it (ansible-playbook, tag keycloak_configure) inside the
tier's network namespace, against https://keycloak-admin.local with the local CA.
"""

import re
import shutil

import pytest
from keycloak_server import REALM

pytestmark = pytest.mark.identity


def recap(result) -> dict[str, int]:
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", result.stdout)
    assert match, result.stdout[-3000:] + result.stderr[-2000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups()), strict=True))


def output(result) -> str:
    return result.stdout[-6000:] + result.stderr[-3000:]


def test_keycloak_starts_in_production_mode(identity):
    response = identity.http("GET", "https://keycloak.local/realms/master/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json()["issuer"] == "https://keycloak.local/realms/master"
    # Production mode: plain HTTP is off, only the HTTPS listener answers.
    assert "--http-enabled=false" in identity.keycloak.command()
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

    result = run_role()
    assert result.returncode == 0, output(result)
    assert recap(result)["changed"] >= 3, output(result)
    assert identity.admin("GET", f"/{REALM}").json()["accessTokenLifespan"] == 30
    argocd = identity.admin("GET", f"/{REALM}/clients/{argocd['id']}").json()
    assert argocd["redirectUris"] == ["https://argocd.local/auth/callback"]
    assert "argocd-viewers" in {g["name"] for g in identity.admin("GET", f"/{REALM}/groups").json()}
    again = run_role()
    assert recap(again)["changed"] == 0, output(again)


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
