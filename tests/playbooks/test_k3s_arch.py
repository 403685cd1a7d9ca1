"""Each k3s node gets its own architecture's binary and airgap images (issue 17 item 12).

The k3s role's real arch and bundle tasks run through ansible-playbook for three `connection: local`
nodes, all this (x86_64) machine, against a bundle folder and lock written here:

- s1 has `ansible_architecture: aarch64` in the inventory: a test double of an arm64 host's fact (the
  role then reads no fact from the machine);
- s2 declares nothing: the role reads the machine's real fact (x86_64, amd64);
- a1 declares `gauntlet_arch: arm64` on this x86_64 machine: the role must refuse it.

No k3s binary is run or installed (the install task needs root and a real node).
"""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PINS = REPO / "roles" / "gauntlet" / "defaults" / "main" / "versions.yml"
VERSION = "v1.36.4+k3s1"

PLAY = """---
- name: The k3s role's architecture and bundle checks
  hosts: all
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Decide each node's architecture
      ansible.builtin.import_role:
        name: gauntlet.platform.k3s
        tasks_from: arch
    - name: Show each node's bundle files
      ansible.builtin.debug:
        msg: "FILES {{ inventory_hostname }} {{ __k3s_arch }} {{ __k3s_bundle_names | join(' ') }}"
    - name: Check the bundle
      ansible.builtin.import_role:
        name: gauntlet.platform.k3s
        tasks_from: bundle
"""


def write_bundle(folder: Path, names: list[str]) -> None:
    files = []
    for name in names:
        path = folder / "files" / "k3s" / VERSION / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = f"test double of {name}\n".encode()
        path.write_bytes(data)
        files.append({"name": f"k3s/{VERSION}/{name}", "sha256": hashlib.sha256(data).hexdigest()})
    (folder / "bundle.lock.json").write_text(json.dumps({"version": 1, "images": [], "files": files, "wheels": []}))


def run(tmp_path, ansible_env, bundle_names):
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                "k3s_servers": {
                    "hosts": {"s1": {"ansible_architecture": "aarch64"}, "s2": {}},
                },
                "k3s_agents": {"hosts": {"a1": {"gauntlet_arch": "arm64"}}},
            },
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(PLAY)
    bundle = tmp_path / "bundle"
    write_bundle(bundle, bundle_names)
    assets = yaml.safe_load(PINS.read_text())["gauntlet_k3s_arch_assets"]
    variables = {
        "gauntlet_versions": {"k3s": VERSION},
        "gauntlet_bundle_dir": str(bundle),
        "gauntlet_k3s_arch_assets": assets,
    }
    return subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip


def files_line(out: str, host: str) -> str:
    return next(line for line in out.splitlines() if f'"FILES {host} ' in line).split('"FILES ', 1)[1].rstrip('"')


def test_each_node_gets_its_architecture_and_what_is_wrong_stops_the_run(tmp_path, ansible_env):
    """s1 (arm64) and s2 (amd64) get their own files; a1's wrong declaration stops a1; the bundle, built
    with the arm64 binary but without the arm64 airgap images, stops the run naming that file."""
    result = run(tmp_path, ansible_env, ["k3s", "k3s-airgap-images-amd64.tar.zst", "k3s-arm64"])
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "host a1: gauntlet_arch is arm64 but the host is x86_64 (amd64); set gauntlet_arch: amd64 for it" in out
    assert files_line(out, "s1") == f"s1 arm64 k3s/{VERSION}/k3s-arm64 k3s/{VERSION}/k3s-airgap-images-arm64.tar.zst"
    assert files_line(out, "s2") == f"s2 amd64 k3s/{VERSION}/k3s k3s/{VERSION}/k3s-airgap-images-amd64.tar.zst"
    assert '"FILES a1' not in out
    assert f"files/k3s/{VERSION}/k3s-airgap-images-arm64.tar.zst is not in the bundle lock" in out
    assert f"files/k3s/{VERSION}/k3s-arm64 " not in out.split("k3s bundle ", 1)[1].split("Rebuild", 1)[0]  # it is fine
    assert "(amd64, arm64: give every host its gauntlet_arch, or build with -e gauntlet_bundle_detect_arch=true)" in out
    assert "no host was changed" in out


SERIAL_PLAY = PLAY.replace("  hosts: all\n", "  hosts: all\n  serial: 1\n")


def test_a_serial_play_checks_each_batch_s_own_files(tmp_path, ansible_env):
    """playbooks/upgrade.yml upgrades one node at a time (`serial: 1`): the bundle check of each batch
    reads the files of that batch's nodes only. ansible_play_hosts is not limited by serial, so the
    nodes of later batches have not decided their architecture yet (Molecule k3s
    test_rolling_upgrade_servers_one_at_a_time_then_agents failed on that)."""
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {"k3s_servers": {"hosts": {"s1": {}, "s2": {}}}, "k3s_agents": {"hosts": {}}},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(SERIAL_PLAY)
    bundle = tmp_path / "bundle"
    write_bundle(bundle, ["k3s", "k3s-airgap-images-amd64.tar.zst"])
    assets = yaml.safe_load(PINS.read_text())["gauntlet_k3s_arch_assets"]
    variables = {
        "gauntlet_versions": {"k3s": VERSION},
        "gauntlet_bundle_dir": str(bundle),
        "gauntlet_k3s_arch_assets": assets,
    }
    result = subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert files_line(out, "s1") == f"s1 amd64 k3s/{VERSION}/k3s k3s/{VERSION}/k3s-airgap-images-amd64.tar.zst"
    assert files_line(out, "s2") == f"s2 amd64 k3s/{VERSION}/k3s k3s/{VERSION}/k3s-airgap-images-amd64.tar.zst"
