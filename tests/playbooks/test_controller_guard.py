"""A controller role run in a play on a node stops at its first task, naming the play to use.

Controller roles (docs/architecture.md, "Controller roles") carry no delegate_to/run_once: in
a play on a node they would run over SSH, on the node. Their first task (role gauntlet,
tasks_from: controller) refuses such a play before anything else. The node here has a
TEST-NET address (192.0.2.1, never routed) and the run happens in a loopback-only network
namespace: reaching the guard's message proves nothing was dialed (an attempt would say
UNREACHABLE instead).
"""

import json
import subprocess
from pathlib import Path

import loopback_netns
import yaml
from contract_paths import CONTRACT_PATHS

REPO = Path(__file__).resolve().parents[2]

PLAY = """---
- name: A controller role in a play on a node, by mistake
  hosts: node-1
  become: false
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - gauntlet.platform.coredns_custom
"""


def run(tmp_path, ansible_env, hosts):
    (tmp_path / "play.yml").write_text(PLAY.replace("node-1", hosts))
    # The sample inventory's variables, one node (server and registry).
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "group_vars").symlink_to(REPO / "inventory" / "sample" / "group_vars")
    node = {"node-1": {"ansible_host": "192.0.2.1", "node_ip": "192.0.2.1", "ansible_connection": "ssh"}}
    groups = {"k3s_cluster": {"children": {"k3s_servers": {"hosts": node}}}, "registry": {"hosts": {"node-1": {}}}}
    inventory = {"all": {"children": groups}}
    (tmp_path / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    loopback_netns.require()
    command = ["ansible-playbook", "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml"),
               "-e", json.dumps({**CONTRACT_PATHS, "gauntlet_render_dir": str(tmp_path / "out"),
                                 "gauntlet_credentials_dir": str(tmp_path / "credentials")})]  # fmt: skip
    return subprocess.run(
        loopback_netns.isolated(command), capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path),
        check=False, timeout=300,
    )  # fmt: skip


def test_a_play_on_a_node_stops_before_contacting_it(tmp_path, ansible_env):
    result = run(tmp_path, ansible_env, "node-1")
    assert result.returncode != 0, result.stdout
    assert "gauntlet.platform.coredns_custom runs on the controller" in result.stdout, result.stdout + result.stderr
    assert 'playbooks/k3s.yml, "Configure the cluster\'s DNS and ingress"' in result.stdout, result.stdout
    assert "UNREACHABLE" not in result.stdout, result.stdout
    assert not (tmp_path / "out").exists()


def test_the_same_play_on_localhost_renders(tmp_path, ansible_env):
    result = run(tmp_path, ansible_env, "localhost")
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "coredns-custom").iterdir()), result.stdout
