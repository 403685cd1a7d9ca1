"""Role k8s_objects renders a default ServiceAccount without token automount for each Namespace it is given."""

import json
from pathlib import Path

import yaml
from contract_paths import CONTRACT_PATHS

REPO = Path(__file__).resolve().parents[2]

PLAY = """---
- name: Render objects with role k8s_objects
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - role: gauntlet.platform.k8s_objects
      k8s_objects_component: demo
      k8s_objects_list:
        - {apiVersion: v1, kind: Namespace, metadata: {name: demo}}
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: demo}}
"""


def test_the_namespace_default_account_mounts_no_token(tmp_path, ansible_env):
    import subprocess

    (tmp_path / "play.yml").write_text(PLAY)
    out = tmp_path / "out"
    result = subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-e", f"gauntlet_render_dir={out}", "-e", f"gauntlet_credentials_dir={tmp_path}",
         "-e", json.dumps(CONTRACT_PATHS)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(p.name for p in (out / "demo").iterdir())
    assert files == [
        "00-namespace-cluster-demo.yaml",
        "01-configmap-demo-settings.yaml",
        "02-serviceaccount-demo-default.yaml",
    ]
    account = yaml.safe_load((out / "demo" / files[2]).read_text())
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"] == {
        "name": "default",
        "namespace": "demo",
        "labels": {"app.kubernetes.io/managed-by": "gauntlet"},
    }
