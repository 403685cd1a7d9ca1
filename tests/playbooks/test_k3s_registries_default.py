"""registries.yaml content the k3s role computes by default: mirrors from the bundle lock.

Runs the role's real defaults through Ansible against inventory/sample (no host is
contacted: the play is local and only templates the variable).
"""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = """---
- name: Template the k3s role's registries.yaml default
  hosts: k3s_servers[0]
  gather_facts: false
  vars_files:
    - {defaults}
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Write it
      ansible.builtin.copy:
        content: "{{{{ k3s_registries | to_nice_json }}}}"
        dest: "{dest}"
        mode: "0600"
      delegate_to: localhost
"""


def render(tmp_path, run_playbook, lock):
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    if lock is not None:
        (bundle / "bundle.lock.json").write_text(json.dumps(lock))
    playbook = tmp_path / "registries.yml"
    dest = tmp_path / "registries.json"
    playbook.write_text(PLAYBOOK.format(defaults=REPO / "roles/k3s/defaults/main.yml", dest=dest))
    result = run_playbook(
        playbook,
        REPO / "inventory/sample",
        "-e",
        json.dumps({"gauntlet_bundle_dir": str(bundle), "gauntlet_credentials_dir": str(tmp_path / "credentials")}),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(dest.read_text())


def test_every_registry_of_the_lock_is_mirrored_with_the_nodes_pull_only_account(tmp_path, run_playbook):
    digest = "sha256:" + "a" * 64
    lock = {
        "version": 1,
        "files": [],
        "images": [
            {"name": "public.ecr.aws/docker/library/redis:8.2.3-alpine", "digest": digest},
            {"name": "docker.gitea.com/gitea:1.27.3-rootless", "digest": digest},
        ],
    }
    registries = render(tmp_path, run_playbook, lock)
    endpoint = "https://registry.local:5000"
    for upstream in (
        "docker.io",
        "quay.io",
        "ghcr.io",
        "registry.k8s.io",
        "cr.l5d.io",
        "public.ecr.aws",
        "docker.gitea.com",
    ):
        assert registries["mirrors"][upstream] == {"endpoint": [endpoint], "rewrite": {"^(.*)$": f"{upstream}/$1"}}
    # The nodes' own account, which the registry's token server lets pull only
    # (tests/services/test_registry_accounts.py); not CI's, not the preload's.
    password = (tmp_path / "credentials/registry/node-password").read_text().strip()
    assert len(password) == 32
    assert not (tmp_path / "credentials/registry/preload-password").exists()
    assert registries["configs"]["registry.local:5000"] == {
        "auth": {"username": "gauntlet-node", "password": password},
        "tls": {"ca_file": "/usr/local/share/ca-certificates/gauntlet-local-ca.crt"},
    }
    # A second computation reads the same credential instead of generating another.
    assert render(tmp_path, run_playbook, lock) == registries


def test_without_a_lock_only_the_default_registries_are_mirrored(tmp_path, run_playbook):
    registries = render(tmp_path, run_playbook, None)
    assert set(registries["mirrors"]) == {
        "docker.io",
        "quay.io",
        "ghcr.io",
        "registry.k8s.io",
        "cr.l5d.io",
        "registry.local:5000",
    }
