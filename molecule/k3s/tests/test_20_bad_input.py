"""Bad input stops the k3s stage with a clear message before any host changes."""

import json
import shutil

import pytest
import testinfra
import yaml
from k3s_scenario import AGENTS, BUNDLE, INVENTORY, REPO, SERVERS, VERSION, ansible_playbook

WATCHED = ["/etc/rancher/k3s/config.yaml", "/etc/rancher/k3s/agent-token", "/usr/local/bin/k3s"]


def snapshot():
    state = {}
    for name in SERVERS + AGENTS:
        host = testinfra.get_host(f"podman://{name}")
        for path in WATCHED + (["/etc/rancher/k3s/cluster-token"] if name in SERVERS else []):
            state[name, path] = host.check_output(f"stat -c '%Y %s' {path} && sha256sum {path}")
        state[name, "starts"] = host.check_output("wc -l < /var/lib/k3s-double/calls.jsonl")
    return state


@pytest.fixture
def unchanged():
    before = snapshot()
    yield
    assert snapshot() == before, "a host changed although the input was refused"


@pytest.fixture
def bundle_copy(tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(BUNDLE, copy)
    return copy


def test_wrong_checksum(bundle_copy, unchanged):
    binary = bundle_copy / "files/k3s" / VERSION / "k3s"
    binary.write_text(binary.read_text() + "# tampered\n")
    result = ansible_playbook("k3s.yml", "-e", f"gauntlet_bundle_dir={bundle_copy}")
    assert result.returncode != 0
    assert f"files/k3s/{VERSION}/k3s has sha256" in result.stdout and "but the lock says" in result.stdout


def test_missing_binary(bundle_copy, unchanged):
    (bundle_copy / "files/k3s" / VERSION / "k3s").unlink()
    result = ansible_playbook("k3s.yml", "-e", f"gauntlet_bundle_dir={bundle_copy}")
    assert result.returncode != 0
    assert f"files/k3s/{VERSION}/k3s is missing" in result.stdout


def test_lock_without_the_version(bundle_copy, unchanged):
    lock = json.loads((bundle_copy / "bundle.lock.json").read_text())
    lock["files"] = [entry for entry in lock["files"] if not entry["name"].endswith("/k3s")]
    (bundle_copy / "bundle.lock.json").write_text(json.dumps(lock))
    result = ansible_playbook("k3s.yml", "-e", f"gauntlet_bundle_dir={bundle_copy}")
    assert result.returncode != 0
    assert f"files/k3s/{VERSION}/k3s is not in the bundle lock" in result.stdout


def test_token_of_another_cluster(tmp_path, unchanged):
    token = tmp_path / "k3s-token"
    token.write_text("x" * 48 + "\n")
    result = ansible_playbook("k3s.yml", "-e", f"k3s_token_local_file={token}")
    assert result.returncode != 0
    assert "does not match the cluster already running on k3s-server-1, k3s-server-2, k3s-server-3" in result.stdout


def test_agent_token_of_another_cluster(tmp_path, unchanged):
    token = tmp_path / "k3s-agent-token"
    token.write_text("y" * 48 + "\n")
    token.chmod(0o600)
    result = ansible_playbook("k3s.yml", "-e", f"k3s_agent_token_local_file={token}")
    assert result.returncode != 0
    assert f"the agent token in {token} does not match the one the cluster running on" in result.stdout
    assert "k3s-server-1, k3s-server-2, k3s-server-3" in result.stdout
    assert "y" * 48 not in result.stdout


def inventory_with(tmp_path, servers, agents):
    hosts = {
        "all": {
            "children": {
                "k3s_cluster": {
                    "children": {
                        "k3s_servers": {
                            "hosts": {name: {"node_ip": f"10.89.44.{11 + i}"} for i, name in enumerate(servers)}
                        },
                        "k3s_agents": {
                            "hosts": {name: {"node_ip": f"10.89.44.{21 + i}"} for i, name in enumerate(agents)}
                        },
                    }
                },
                "registry": {"hosts": {"k3s-registry": {"node_ip": "10.89.44.30"}}},
            }
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (tmp_path / "group_vars").symlink_to(INVENTORY / "group_vars")
    return tmp_path


@pytest.mark.parametrize(
    ("servers", "agents", "message"),
    [
        (SERVERS[:2], AGENTS, "there are 2 k3s servers; embedded etcd needs 1 or an odd number >= 3"),
        ([], AGENTS, "there are no k3s servers"),
    ],
)
def test_bad_server_count(tmp_path, servers, agents, message, unchanged):
    import os
    import subprocess

    inventory = inventory_with(tmp_path, servers, agents)
    result = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks/k3s.yml")],
        cwd=REPO,
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stdout
    assert "nothing was changed" in result.stdout
