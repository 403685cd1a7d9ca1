"""Gitea on a real cluster after `playbooks/platform.yml --tags gitea` (skipped without KUBECONFIG).

Environment: KUBECONFIG (the cluster), GAUNTLET_INVENTORY (default inventory/sample) and
GAUNTLET_CREDENTIALS_DIR (default <inventory>/credentials). The controller must resolve
the local domains (gitea.local) as the configure step does.
"""

import base64
import json
import os
import re
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVENTORY = Path(os.environ.get("GAUNTLET_INVENTORY", REPO / "inventory/sample"))
CREDENTIALS = Path(os.environ.get("GAUNTLET_CREDENTIALS_DIR", INVENTORY / "credentials"))
GITEA = os.environ.get("GAUNTLET_GITEA_URL", "https://gitea.local")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"), reason="needs a cluster: set KUBECONFIG (and the platform applied)"
    ),
]


def credential(name):
    return (CREDENTIALS / name).read_text().strip()


def kubectl(*args):
    done = subprocess.run(["kubectl", *args], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def api(path, user=None, password=None):
    context = ssl.create_default_context(cafile=str(CREDENTIALS / "ca" / "ca.crt"))
    request = urllib.request.Request(f"{GITEA}{path}")  # noqa: S310 - https URLs of the platform
    if user:
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310 - https only
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def test_deployment_available_and_service_contract_has_endpoints():
    deployment = json.loads(kubectl("-n", "gitea", "get", "deployment", "gitea", "-o", "json"))
    assert deployment["status"].get("availableReplicas") == 1
    slices = json.loads(
        kubectl("-n", "gitea", "get", "endpointslices", "-l", "kubernetes.io/service-name=gitea-http", "-o", "json")
    )
    ports = {p["port"] for s in slices["items"] for p in s.get("ports") or []}
    assert 3000 in ports
    assert any(e.get("conditions", {}).get("ready") for s in slices["items"] for e in s.get("endpoints") or [])


def test_health_through_traefik_with_the_local_ca():
    status, body = api("/api/healthz")
    assert status == 200 and body["status"] == "pass"


def test_accounts_log_in_with_their_credentials():
    assert api("/api/v1/user", "gauntlet-admin", credential("gitea/admin-password"))[1]["is_admin"] is True
    assert api("/api/v1/user", "argocd", credential("gitea/argocd-password"))[0] == 200
    assert api("/api/v1/user", "argocd", "not-the-password")[0] == 401


def test_org_repositories_and_argocd_read_access():
    admin = ("gauntlet-admin", credential("gitea/admin-password"))
    for name in ("task-api", "gitops"):
        status, repo = api(f"/api/v1/repos/gauntlet/{name}", *admin)
        assert status == 200 and repo["private"] is True and not repo["empty"]
    status, permission = api("/api/v1/repos/gauntlet/gitops/collaborators/argocd/permission", *admin)
    assert status == 200 and permission["permission"] == "read"
    assert api("/api/v1/repos/gauntlet/gitops", "argocd", credential("gitea/argocd-password"))[0] == 200


def test_registration_is_closed_and_anonymous_users_see_nothing():
    assert api("/api/v1/repos/gauntlet/gitops")[0] in (401, 403, 404)


def test_drone_oauth_app_matches_the_stored_client_id():
    status, apps = api("/api/v1/user/applications/oauth2", "gauntlet-admin", credential("gitea/admin-password"))
    assert status == 200
    (app,) = [a for a in apps if a["name"] == "drone"]
    assert app["client_id"] == credential("drone/gitea-client-id")
    assert app["redirect_uris"] == ["https://drone.local/login"]


def test_ci_token_works():
    token = credential("gitea/ci-token")
    assert api("/api/v1/repos/gauntlet/gitops", "ci", token)[0] == 200


def test_the_package_index_serves_the_bundles_wheels_to_the_read_token_only():
    # The pipelines' index (docs/gitea.md, "Package index"): every wheel of the bundle lock's list is
    # on its project page with the lock's sha256; the token reads, anonymous requests get nothing.
    bundle = Path(os.environ.get("GAUNTLET_BUNDLE_DIR", REPO / "bundle"))
    wheels = json.loads((bundle / "bundle.lock.json").read_text()).get("wheels") or []
    assert wheels, f"{bundle}/bundle.lock.json lists no wheels"
    owner, token = "gauntlet-packages", credential("gitea/pip-token")
    context = ssl.create_default_context(cafile=str(CREDENTIALS / "ca" / "ca.crt"))
    for wheel in wheels:
        project = re.sub(r"[-_.]+", "-", wheel["name"]).lower()
        request = urllib.request.Request(f"{GITEA}/api/packages/{owner}/pypi/simple/{project}/")  # noqa: S310
        request.add_header("Authorization", "Basic " + base64.b64encode(f"{owner}:{token}".encode()).decode())
        with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310 - https only
            page = response.read().decode()
        assert f"{wheel['filename']}#sha256={wheel['sha256']}" in page, wheel["filename"]
    anonymous = urllib.request.Request(f"{GITEA}/api/packages/{owner}/pypi/simple/{project}/")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, context=context, timeout=30)  # noqa: S310 - https only
    assert refused.value.code in (401, 403, 404)


def test_a_second_configure_run_changes_nothing():
    done = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), "playbooks/platform.yml", "--tags", "gitea_configure"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
        check=False,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "changed=0" in done.stdout.split("PLAY RECAP")[-1]
