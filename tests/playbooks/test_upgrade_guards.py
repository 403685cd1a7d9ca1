"""The guards of playbooks/upgrade.yml (issue 17 item 3), run for real through ansible-playbook.

The guard play is taken from playbooks/upgrade.yml as written and runs against two servers and
an agent that are all this machine (`connection: local`, like tests/k3s_local.py). Each node's
`k3s_bin_path` points at its own **k3s version test double**: a two-line shell script that
prints what `k3s --version` prints (`k3s version <v> (<commit>)`), so the guard's real
`k3s --version` command, its reading of the output and its comparison run; no k3s runs. A node
without the file is a node where k3s is not installed. After the guard play comes a sentinel
play on the same nodes that only writes a marker file: a refused upgrade must leave no marker
(nothing after the guard touched any node). What this cannot prove: the version a real k3s
binary prints (the format is k3s's `k3s --version`, cited in module_utils/k3s/version.py).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
UPGRADE = REPO / "playbooks/upgrade.yml"
GUARD_PLAY = "Show every node's k3s version change and refuse a bad one, before touching any node"
TARGET = "v1.36.4+k3s1"
SHA = "c" * 64

SENTINEL = {
    "name": "Sentinel (test only): what runs after the guard",
    "hosts": "k3s_servers:k3s_agents",
    "gather_facts": False,
    "tasks": [
        {
            "name": "Leave a marker",
            "ansible.builtin.copy": {
                "content": "touched\n",
                "dest": "{{ marker_dir }}/{{ inventory_hostname }}",
                "mode": "0644",
            },
        }
    ],
}


def upgrade_plays():
    return yaml.safe_load(UPGRADE.read_text())


def guard_play():
    (play,) = [play for play in upgrade_plays() if play.get("name") == GUARD_PLAY]
    return play


def test_the_guard_runs_after_validation_and_before_any_node_is_upgraded():
    names = [play.get("name") for play in upgrade_plays()]
    assert names[0] == "Validate" and names[1] == GUARD_PLAY, names
    play = guard_play()
    assert play["hosts"] == "k3s_servers:k3s_agents"
    assert play["any_errors_fatal"] is True


def run_guard(tmp_path, ansible_env, installed, bundle_versions=(TARGET,), **extra):
    """installed: {host: version or None}."""
    hosts = {}
    for host, version in installed.items():
        binary = tmp_path / "nodes" / host / "k3s"
        binary.parent.mkdir(parents=True, exist_ok=True)
        if version:
            binary.write_text(
                "#!/bin/sh\n# k3s version TEST DOUBLE: prints what `k3s --version` prints\n"
                f'echo "k3s version {version} (0123abcd)"\necho "go version go1.25.1"\n'
            )
            binary.chmod(0o755)
        hosts[host] = {"k3s_bin_path": str(binary)}
    inventory = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                "k3s_servers": {"hosts": {h: v for h, v in hosts.items() if h.startswith("s")}},
                "k3s_agents": {"hosts": {h: v for h, v in hosts.items() if h.startswith("a")}},
            },
        }
    }
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    if bundle_versions is not None:
        files = [
            {"name": f"k3s/{v}/{name}", "sha256": SHA}
            for v in bundle_versions
            for name in ("k3s", "k3s-airgap-images-amd64.tar.zst")
        ]
        (bundle / "bundle.lock.json").write_text(json.dumps({"version": 1, "images": [], "files": files}))
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump([guard_play(), SENTINEL], sort_keys=False))
    variables = {
        "gauntlet_versions": {"k3s": TARGET},
        "gauntlet_bundle_dir": str(bundle),
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        "marker_dir": str(markers),
        **extra,
    }
    result = subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip
    touched = sorted(path.name for path in markers.iterdir())
    return result, touched


def test_a_minor_upgrade_shows_every_change_and_goes_on(tmp_path, ansible_env):
    result, touched = run_guard(tmp_path, ansible_env, {"s1": "v1.35.9+k3s1", "s2": "v1.36.4+k3s1", "a1": None})
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for line in (
        "a1: not installed -> v1.36.4+k3s1 (install)",
        "s1: v1.35.9+k3s1 -> v1.36.4+k3s1 (minor)",
        "s2: v1.36.4+k3s1 -> v1.36.4+k3s1 (same)",
    ):
        assert line in out, out
    assert touched == ["a1", "s1", "s2"]


def test_a_downgrade_stops_before_any_node_is_touched(tmp_path, ansible_env):
    result, touched = run_guard(
        tmp_path, ansible_env, {"s1": "v1.36.4+k3s1", "s2": "v1.37.0+k3s1", "a1": "v1.36.4+k3s1"}
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "s2: v1.37.0+k3s1 -> v1.36.4+k3s1 (downgrade)" in out  # shown before the refusal
    assert "s2: v1.37.0+k3s1 -> v1.36.4+k3s1 is a downgrade" in out
    assert "k3s_upgrade_allow_downgrade=true" in out
    assert "no node was touched" in out
    assert touched == []


def test_a_downgrade_goes_on_when_allowed_by_name(tmp_path, ansible_env):
    result, touched = run_guard(
        tmp_path, ansible_env, {"s1": "v1.37.0+k3s1", "a1": "v1.36.4+k3s1"}, k3s_upgrade_allow_downgrade=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "s1: v1.37.0+k3s1 -> v1.36.4+k3s1 (downgrade)" in result.stdout
    assert touched == ["a1", "s1"]


def test_a_skipped_minor_version_stops_and_names_it(tmp_path, ansible_env):
    result, touched = run_guard(tmp_path, ansible_env, {"s1": "v1.36.4+k3s1", "a1": "v1.34.2+k3s1"})
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "a1: v1.34.2+k3s1 -> v1.36.4+k3s1 skips v1.35" in out
    assert "k3s_upgrade_allow_minor_skip=true" in out
    assert touched == []
    allowed, touched = run_guard(
        tmp_path, ansible_env, {"s1": "v1.36.4+k3s1", "a1": "v1.34.2+k3s1"}, k3s_upgrade_allow_minor_skip=True
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert touched == ["a1", "s1"]


@pytest.mark.parametrize(
    ("bundle_versions", "says"),
    [
        (("v1.36.3+k3s1",), "the bundle holds k3s v1.36.3+k3s1 but v1.36.4+k3s1 is asked for"),
        (None, "there is no bundle lock"),
    ],
)
def test_a_bundle_without_the_asked_version_stops(tmp_path, ansible_env, bundle_versions, says):
    result, touched = run_guard(
        tmp_path, ansible_env, {"s1": "v1.36.1+k3s1", "a1": None}, bundle_versions=bundle_versions
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert says in out
    assert touched == []
