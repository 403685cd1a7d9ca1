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
import os
import re
import subprocess
import sys

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


# --- Rotation and host clean-up against the k3s TEST DOUBLE --------------------------------------
# One server (s1) and one agent (a1), connection-local, each with a root folder of its own holding the
# k3s test double (molecule/k3s/files/k3s-test-double.py, not k3s) as its k3s binary; `systemctl` is
# the systemctl test double (tests/systemctl_double.py, not systemd), which runs the doubles as their
# units. Everything runs inside one loopback-only network namespace (the server double listens on
# 6443 there). What is real: the playbook's rotation plays and the k3s role's tasks (stop, rotate,
# start, wait, kubeconfig; reset). What is not: k3s's certificates (the double's files are text) and
# systemd; the `certificates` verify row after a real rotation needs a real k3s.
DOUBLE = REPO / "molecule" / "k3s" / "files" / "k3s-test-double.py"
SYSTEMCTL = REPO / "tests" / "systemctl_double.py"
START = """---
- name: Start k3s on each node (the units of the systemctl test double), the server first
  hosts: k3s_servers:k3s_agents
  gather_facts: false
  serial: 1
  tasks:
    - name: Start the unit
      ansible.builtin.systemd_service:
        name: "{{ 'k3s' if inventory_hostname in groups['k3s_servers'] else 'k3s-agent' }}"
        state: started
"""
CLEAN = """
- name: Clean the agent as playbooks/remove-node.yml does (the k3s role's reset entry point)
  hosts: a1
  gather_facts: true
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Remove k3s from the host
      ansible.builtin.include_role:
        name: gauntlet.platform.k3s
        tasks_from: reset
      vars:
        k3s_reset_confirm: true
"""


def _double_nodes(tmp_path):
    roots = {"s1": tmp_path / "hosts" / "s1", "a1": tmp_path / "hosts" / "a1"}
    configs = {
        "s1": "node-name: s1\ntoken: t0ken\n",
        "a1": "node-name: a1\nserver: https://127.0.0.1:6443\ntoken: t0ken\n",
    }
    for host, root in roots.items():
        binary = root / "usr" / "local" / "bin"
        binary.mkdir(parents=True)
        (binary / "k3s-test-double.py").write_text(DOUBLE.read_text().replace("@VERSION@", "v1.36.4+k3s1"))
        (binary / "k3s").write_text(
            f'#!/bin/sh\nK3S_TEST_DOUBLE_ROOT={root} exec {sys.executable} {binary / "k3s-test-double.py"} "$@"\n'
        )
        (binary / "k3s").chmod(0o755)
        (root / "etc/rancher/k3s").mkdir(parents=True)
        (root / "etc/rancher/k3s/config.yaml").write_text(configs[host])
        (root / "etc/systemd/system").mkdir(parents=True)
        unit = "k3s" if host == "s1" else "k3s-agent"
        (root / f"etc/systemd/system/{unit}.service").write_text("[Unit]\nDescription=k3s test double\n")
        (root / "node-state").mkdir()  # stands for /var/lib/kubelet and the like
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\nexec {sys.executable} {SYSTEMCTL} "$@"\n')
    (bin_dir / "systemctl").chmod(0o755)
    hosts = {
        host: {
            "node_ip": "127.0.0.1" if host == "s1" else "127.0.0.2",
            "ansible_become": False,
            "k3s_bin_path": str(root / "usr/local/bin/k3s"),
            "k3s_config_dir": str(root / "etc/rancher/k3s"),
            "k3s_data_dir": str(root / "var/lib/rancher/k3s"),
            "k3s_systemd_dir": str(root / "etc/systemd/system"),
            "test_root": str(root),
        }
        for host, root in roots.items()
    }
    inventory_data = {
        "all": {
            "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
            "children": {
                "k3s_cluster": {
                    "children": {
                        "k3s_servers": {"hosts": {"s1": hosts["s1"]}},
                        "k3s_agents": {"hosts": {"a1": hosts["a1"]}},
                    }
                }
            },
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory_data))
    units = {"k3s": [hosts["s1"]["k3s_bin_path"], "server"], "k3s-agent": [hosts["a1"]["k3s_bin_path"], "agent"]}
    return roots, bin_dir, units


def _files(folder):
    return (
        {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()} if folder.exists() else {}
    )


def test_rotation_one_node_at_a_time_then_clean_up_against_the_k3s_test_double(tmp_path, ansible_env):
    import loopback_netns

    loopback_netns.require()
    roots, bin_dir, units = _double_nodes(tmp_path)
    rotation = [
        play for play in yaml.safe_load((REPO / "playbooks/rotate-certificates.yml").read_text())
        if "rotate_k3s" in play.get("tags", [])
    ]  # fmt: skip
    assert [p["name"] for p in rotation][-1] == "Fetch the kubeconfig again", rotation
    (tmp_path / "play.yml").write_text(START + yaml.safe_dump(rotation, sort_keys=False) + CLEAN)
    state = tmp_path / "systemctl-state"
    env = {
        **ansible_env(tmp_path),
        "PATH": f"{bin_dir}:{REPO / '.venv/bin'}:{os.environ['PATH']}",
        "SYSTEMCTL_TEST_DOUBLE_STATE": str(state),
        "SYSTEMCTL_TEST_DOUBLE_UNITS": json.dumps(units),
    }
    variables = {
        "gauntlet_versions": {"k3s": "v1.36.4+k3s1"},
        "gauntlet_kubeconfig": str(tmp_path / "kubeconfig"),
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        "k3s_wait_retries": 30,
        "k3s_wait_delay": 1,
        # What the reset removes outside k3s's folders (/var/lib/kubelet, /var/lib/cni, ...) and the
        # mounts it unmounts: inside each node's root folder. Extra vars, the only level above the
        # role's vars/main.yml: the machine's own /var/lib/cni must never be touched.
        "__k3s_node_state_paths": ["{{ test_root }}/node-state"],
        "__k3s_node_mount_prefixes": ["{{ test_root }}/run"],
    }
    command = [
        "ansible-playbook",
        str(tmp_path / "play.yml"),
        "-i",
        str(tmp_path / "hosts.yml"),
        "-e",
        json.dumps(variables),
    ]
    try:
        result = subprocess.run(
            loopback_netns.isolated(command),
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            check=False,
            timeout=300,
        )
    finally:  # the doubles outlive the namespace's shell: end them by the pids the systemctl double kept
        for unit in units:
            pid = (
                json.loads((state / f"{unit}.json").read_text()).get("pid")
                if (state / f"{unit}.json").exists()
                else None
            )
            if pid:
                subprocess.run(["kill", "--", f"-{pid}"], check=False, capture_output=True)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-3000:]
    assert not re.search(r"item=/(var|etc|run)/", result.stdout), "the reset named a path of this machine"

    # One node at a time, the server first: stop, rotate, start for s1, then for a1.
    calls = [json.loads(line)["argv"] for line in (state / "calls.jsonl").read_text().splitlines()]
    service = [(c[0], c[1]) for c in calls if c and c[0] in ("start", "stop")]
    assert service[:2] == [("start", "k3s"), ("start", "k3s-agent")], service
    assert service[2:6] == [("stop", "k3s"), ("start", "k3s"), ("stop", "k3s-agent"), ("start", "k3s-agent")], service
    # The double refuses `certificate rotate` while its node runs: each rotation came between stop and start.
    for host, kind in (("s1", "server"), ("a1", "agent")):
        double_calls = [
            json.loads(line)["argv"][1:]
            for line in (roots[host] / "var/lib/k3s-double/calls.jsonl").read_text().splitlines()
        ]
        assert [kind] in double_calls and ["certificate", "rotate"] in double_calls, (host, double_calls)
    # s1: new leaf files, the old ones backed up, the regeneration trigger consumed by the start.
    tls = roots["s1"] / "var/lib/rancher/k3s/server"
    (backup,) = tls.glob("tls-*")
    new = _files(tls / "tls")
    old = _files(backup)
    assert set(old) >= {"client-admin.crt", "serving-kube-apiserver.crt"}, old
    for name, text in old.items():
        if name in new:
            assert new[name] != text, name
    assert "dynamic-cert-regenerate" not in new
    # The controller's kubeconfig was fetched again, pointing at the API address.
    assert "server: https://127.0.0.1:6443" in (tmp_path / "kubeconfig").read_text()
    # a1 was cleaned: its binary, configuration, data, unit and node state are gone; s1 is untouched.
    assert not (roots["a1"] / "usr/local/bin/k3s").exists()
    for gone in ("etc/rancher/k3s", "var/lib/rancher/k3s", "etc/systemd/system/k3s-agent.service", "node-state"):
        assert not (roots["a1"] / gone).exists(), gone
    assert (roots["s1"] / "usr/local/bin/k3s").exists() and _files(tls / "tls") == new
    assert service[-1] == ("stop", "k3s-agent") and ["disable", "k3s-agent"] in [c[:2] for c in calls], calls
