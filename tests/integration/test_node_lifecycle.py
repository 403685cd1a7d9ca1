"""Adding and removing nodes (issue 17 item 4), on the controller and connection-local hosts.

A run limited to a new node (`playbooks/site.yml --limit <new-node>`, docs/k3s.md "Add and remove
nodes") must run the inventory validation, wait for the new node, read the running cluster's tokens
on the join target (the first server, reads only) and change nothing but the new node. The k3s
role's real token tasks and config.yaml template run for four local hosts and a new one
(tests/k3s_local.py); each node's data folder is a temporary folder holding a test double of the
files a running k3s keeps (server/token, server/agent-token).
"""

from __future__ import annotations

import copy
import json
import re
import subprocess

import yaml
from contract_paths import CONTRACT_PATHS
from k3s_local import INVENTORY, K3S, REPO, node_play

PLAY = node_play(
    "The token tasks and config.yaml of each node",
    before=f"""    - name: The role's token tasks
      ansible.builtin.include_tasks: {K3S / "tasks/token.yml"}
""",
)
SERVER_TOKEN = "s" * 48


def inventory(new: dict) -> dict:
    """k3s_local's four hosts plus `new` ({host: (group, address)})."""
    data = copy.deepcopy(INVENTORY)
    for host, (group, address) in new.items():
        data["all"]["children"][group]["hosts"][host] = {"node_ip": address}
    return data


def running_cluster(tmp_path, agent_token=None):
    """Test double of what a running k3s keeps under <data-dir>/server on s1..s3."""
    for host in ("s1", "s2", "s3"):
        folder = tmp_path / "data" / host / "server"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(f"K10{'0' * 64}::server:{SERVER_TOKEN}\n")
        if agent_token is None:
            (folder / "agent-token").symlink_to("token")  # docs.k3s.io/cli/token, "Agent"
        else:
            (folder / "agent-token").write_text(f"K10{'0' * 64}::node:{agent_token}\n")
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700, exist_ok=True)
    (credentials / "k3s-token").write_text(SERVER_TOKEN + "\n")
    (credentials / "k3s-token").chmod(0o600)


def run_limited(tmp_path, ansible_env, new: dict, limit: str):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    for host in new:
        (tmp_path / "data" / host).mkdir(parents=True, exist_ok=True)
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory(new)))
    (tmp_path / "play.yml").write_text(PLAY)
    variables = {
        "out": str(out),
        "k3s_config_dir": "/etc/rancher/k3s",
        "k3s_data_dir": str(tmp_path / "data") + "/{{ inventory_hostname }}",
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        **CONTRACT_PATHS,
        "gauntlet_versions": {"k3s": "v1.36.4+k3s1"},
    }
    before = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}
    result = subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), "--limit", limit,
         "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip
    after = {p: p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file()}
    assert after == before, "a run limited to new nodes changed the data of a node"
    return result, {p.stem: yaml.safe_load(p.read_text()) for p in out.glob("*.yaml")}


def test_a_new_agent_of_a_cluster_without_an_agent_token_joins_with_the_server_token(tmp_path, ansible_env):
    """The cluster runs without an agent token (server/agent-token links to server/token). Before
    the first server's tokens were read in a limited run, the play saw no running server, made a new
    agent token on the controller and gave it to the new agent, which the servers would refuse."""
    running_cluster(tmp_path)
    result, configs = run_limited(tmp_path, ansible_env, {"a2": ("k3s_agents", "10.77.0.22")}, "a2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(configs) == {"a2"}, "only the new node's config.yaml is written"
    assert configs["a2"]["token-file"] == "/etc/rancher/k3s/cluster-token"
    assert configs["a2"]["server"] == "https://10.77.0.11:6443"
    assert not (tmp_path / "credentials/k3s-agent-token").exists()
    # The reads went to the first server (delegated), nothing ran as s2, s3 or a1.
    assert re.search(r"ok: \[a2 -> s1\]", result.stdout), result.stdout
    assert not re.search(r"^(ok|changed|skipping): \[(s2|s3|a1)\b", result.stdout, re.M), result.stdout
    assert SERVER_TOKEN not in result.stdout


def test_new_servers_with_a_foreign_token_stop_before_any_change(tmp_path, ansible_env):
    """The controller's token is not the running cluster's: a run limited to two new servers stops
    at the token check (before, it saw no running server and went on to join them)."""
    running_cluster(tmp_path)
    (tmp_path / "credentials/k3s-token").write_text("x" * 48 + "\n")
    new = {"s4": ("k3s_servers", "10.77.0.14"), "s5": ("k3s_servers", "10.77.0.15")}
    result, configs = run_limited(tmp_path, ansible_env, new, "s4,s5")
    assert result.returncode != 0
    assert "does not match the cluster already running on" in result.stdout and "s1" in result.stdout, result.stdout
    assert configs == {}


def test_site_limited_to_a_new_node_validates_and_waits_for_it(tmp_path, ansible_env):
    """The plays a run of site.yml --limit <new-node> runs for it (ansible-playbook --list-hosts)."""
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "k3s_cluster": {
                            "children": {
                                "k3s_servers": {"hosts": {"s1": {}}},
                                "k3s_agents": {"hosts": {"a1": {}, "a2": {}}},
                            }
                        },
                        "registry": {"hosts": {"r1": {}}},
                    }
                }
            }
        )
    )
    listing = subprocess.run(
        ["ansible-playbook", str(REPO / "playbooks/site.yml"), "-i", str(tmp_path / "hosts.yml"), "--limit", "a2",
         "--list-hosts"],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=120,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stdout + listing.stderr
    plays = {}
    for block in re.split(r"\n\s*play #\d+ ", listing.stdout)[1:]:
        name = re.search(r"\((.*?)\): (.*?)\s+TAGS", block)
        hosts = re.findall(r"^\s{6}(\S+)$", block, re.M)
        plays.setdefault(name[2], []).append(hosts)
    assert plays["Validate the inventory"] and all(h == ["a2"] for h in plays["Validate the inventory"]), plays
    assert plays["Install the k3s agents"] == [["a2"]], plays
    assert plays["Wait for every node and fetch the kubeconfig"] == [["a2"]], plays
    assert plays["Configure the cluster's DNS and ingress"] == [[]], plays  # cluster objects: not this run's
