"""Drone on a real cluster after `playbooks/platform.yml --tags gitea,drone` (skipped without KUBECONFIG).

Environment as in test_gitea_cluster.py; the controller must resolve drone.local.
"""

import base64
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INVENTORY = Path(os.environ.get("GAUNTLET_INVENTORY", REPO / "inventory/sample"))
CREDENTIALS = Path(os.environ.get("GAUNTLET_CREDENTIALS_DIR", INVENTORY / "credentials"))
DRONE = os.environ.get("GAUNTLET_DRONE_URL", "https://drone.local")
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


def get(url, headers=None):
    context = ssl.create_default_context(cafile=str(CREDENTIALS / "ca" / "ca.crt"))
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - https URLs of the platform
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:  # noqa: S310 - https only
            body = response.read()
            return response.status, json.loads(body) if body.strip().startswith((b"{", b"[")) else body
    except urllib.error.HTTPError as exc:
        return exc.code, None


def drone(path):
    return get(f"{DRONE}{path}", {"Authorization": f"Bearer {credential('drone/admin-token')}"})


def test_server_and_runner_available():
    for name in ("drone", "drone-runner", "drone-secret-extension"):
        deployment = json.loads(kubectl("-n", "drone", "get", "deployment", name, "-o", "json"))
        assert deployment["status"].get("availableReplicas") == 1, name


def test_runner_may_only_act_in_the_builds_namespace():
    who = "system:serviceaccount:drone:drone-runner"
    assert kubectl("auth", "can-i", "create", "pods", "-n", "drone-builds", "--as", who).strip() == "yes"
    denied = subprocess.run(["kubectl", "auth", "can-i", "create", "pods", "-n", "drone", "--as", who],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert denied.stdout.strip() == "no"


def test_health_and_admin_token():
    assert get(f"{DRONE}/healthz")[0] == 200
    status, user = drone("/api/user")
    assert status == 200 and user["login"] == "gauntlet-ci" and user["admin"] is True and user["machine"] is False


def test_task_api_is_active_with_its_pipeline_and_secrets():
    status, repo = drone("/api/repos/gauntlet/task-api")
    assert status == 200 and repo["active"] is True
    assert repo["config_path"] == "apps/task-api/.drone.yml"
    status, secrets = drone("/api/repos/gauntlet/task-api/secrets")
    names = {s["name"] for s in secrets}
    assert {"registry_username", "local_ca"} <= names
    # Main-only: served by the secret extension to push builds of main, never a repository secret.
    assert "registry_password" not in names
    # The gitops bump token is no Drone secret (CronJob drone-gitops-promote, docs/security.md).
    assert "gitops_token" not in names
    assert not any(s.get("pull_request") for s in secrets)


def test_gitea_delivers_webhooks_to_drone():
    auth = base64.b64encode(f"gauntlet-admin:{credential('gitea/admin-password')}".encode()).decode()
    status, hooks = get(f"{GITEA}/api/v1/repos/gauntlet/task-api/hooks", {"Authorization": f"Basic {auth}"})
    assert status == 200
    assert any(h["config"]["url"].startswith(f"{DRONE}/hook") for h in hooks)


def test_a_second_configure_run_changes_nothing():
    done = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), "playbooks/platform.yml", "--tags", "drone_configure"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
        check=False,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "changed=0" in done.stdout.split("PLAY RECAP")[-1]
