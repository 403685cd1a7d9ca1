"""Run pieces of the k3s role for a small cluster whose hosts are all this machine.

Three servers (s1..s3) and one agent (a1) with `connection: local`: the role's own task files and
templates run as they would per node, and each test reads what they wrote. Used by the k3s
address and token tests (tests/playbooks/test_k3s_{addresses,tokens}.py).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
K3S = REPO / "roles" / "k3s"
HOSTS = ("s1", "s2", "s3", "a1")
INVENTORY = {
    "all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {
            "k3s_servers": {"hosts": {f"s{n}": {"node_ip": f"10.77.0.1{n}"} for n in (1, 2, 3)}},
            "k3s_agents": {"hosts": {"a1": {"node_ip": "10.77.0.21"}}},
        },
    }
}


def node_play(name: str, before: str = "", after: str = "") -> str:
    """A play on the four nodes with the k3s role's defaults and vars that renders each node's
    config.yaml to `{out}/<host>.yaml`, between the tasks `before` and `after` (YAML task
    items indented by four spaces)."""
    return (
        f"""---
- name: {name}
  hosts: all
  gather_facts: false
  vars_files:
    - {K3S / "defaults/main.yml"}
    - {K3S / "vars/main.yml"}
  roles:
    - gauntlet.platform.gauntlet
  tasks:
"""
        + before
        + f"""    - name: The role's config.yaml template
      ansible.builtin.template:
        src: {K3S / "templates/config.yaml.j2"}
        dest: "{{{{ out }}}}/{{{{ inventory_hostname }}}}.yaml"
        mode: "0600"
"""
        + after
    )


def run_play(tmp_path: Path, env: dict, play: str, variables: dict) -> subprocess.CompletedProcess:
    """ansible-playbook `play` on the four local nodes with `variables` as extra vars."""
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(INVENTORY))
    (tmp_path / "play.yml").write_text(play)
    return subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=300,
    )  # fmt: skip


DOUBLE = REPO / "molecule/k3s/files/k3s-test-double.py"


class LocalCluster:
    """A cluster of k3s TEST DOUBLE nodes that are all this machine, for playbooks run with
    `connection: local` (molecule/k3s/files/k3s-test-double.py, local mode).

    Each node gets a folder under `tmp_path/nodes/<host>` that stands for its `/` (the role's paths
    point there: k3s_data_dir, k3s_config_dir, k3s_bin_path) and its own Python interpreter: a
    two-line wrapper that sets the double's environment (root folder, shared cluster folder, node
    name, and PATH with the double installed as `k3s` and as `systemctl`) and starts this Python.
    So every module Ansible runs "on" a node, and every `k3s`/`systemctl` it calls, acts on that
    node's folder only. The double logs every call of every node, in order, to `cluster/calls.jsonl`.
    Nothing runs as a service and nothing is written outside tmp_path.
    """

    def __init__(self, tmp_path: Path, servers=("s1", "s2", "s3"), agents=("a1",), version="v1.36.4+k3s1"):
        self.tmp = tmp_path
        self.servers, self.agents = tuple(servers), tuple(agents)
        self.bin = tmp_path / "bin"
        self.shared = tmp_path / "cluster"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.shared.mkdir(parents=True, exist_ok=True)
        double = self.bin / "k3s"
        double.write_text(f"#!{sys.executable}\n" + DOUBLE.read_text().replace("@VERSION@", version))
        double.chmod(0o755)
        (self.bin / "systemctl").symlink_to("k3s")
        for host in self.servers + self.agents:
            root = self.root(host)
            (root / "var/lib/k3s-double").mkdir(parents=True)
            unit = "k3s" if host in self.servers else "k3s-agent"
            (root / "var/lib/k3s-double/units.json").write_text(json.dumps({unit: "inactive"}))
            wrapper = root / "python"
            wrapper.write_text(
                "#!/bin/sh\n"
                f"export K3S_TEST_DOUBLE_ROOT='{root}' K3S_TEST_DOUBLE_CLUSTER='{self.shared}' "
                f"K3S_NODE_NAME='{host}' PATH='{self.bin}':\"$PATH\"\n"
                f"exec '{sys.executable}' \"$@\"\n"
            )
            wrapper.chmod(0o755)

    def root(self, host: str) -> Path:
        return self.tmp / "nodes" / host

    def env(self, host: str) -> dict:
        return dict(
            os.environ,
            K3S_TEST_DOUBLE_ROOT=str(self.root(host)),
            K3S_TEST_DOUBLE_CLUSTER=str(self.shared),
            K3S_NODE_NAME=host,
            PATH=f"{self.bin}:{os.environ['PATH']}",
        )

    def run(self, host: str, *args: str, now: int | None = None) -> subprocess.CompletedProcess:
        """Run the double (`k3s ...`, or `systemctl ...` when args[0] is "systemctl") as on `host`."""
        program = [str(self.bin / "systemctl"), *args[1:]] if args[0] == "systemctl" else [str(self.bin / "k3s"), *args]
        env = self.env(host) | ({"K3S_TEST_DOUBLE_NOW": str(now)} if now else {})
        return subprocess.run(program, capture_output=True, text=True, env=env, check=False, timeout=30)

    def start(self, sqlite: bool = False):
        """Start every node the way the role does (the first server first); with sqlite, the first
        server runs on SQLite like a lone server started without cluster-init."""
        if sqlite:
            (self.data(self.servers[0]) / "server/db").mkdir(parents=True)
            (self.data(self.servers[0]) / "server/db/state.db").write_bytes(b"k3s test double: kine on SQLite\n")
        for host in self.servers + self.agents:
            unit = "k3s" if host in self.servers else "k3s-agent"
            result = self.run(host, "systemctl", "start", unit)
            assert result.returncode == 0, result.stderr
        (self.shared / "calls.jsonl").unlink()

    def data(self, host: str) -> Path:
        return self.root(host) / "var/lib/rancher/k3s"

    def etcd_db(self, host: str) -> Path:
        return self.data(host) / "server/db/etcd/member/snap/db"

    def calls(self) -> list[dict]:
        path = self.shared / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def host_vars(self, host: str) -> dict:
        root = self.root(host)
        return {
            "node_ip": f"10.77.0.{11 + (self.servers + self.agents).index(host)}",
            "ansible_connection": "local",
            "ansible_python_interpreter": str(root / "python"),
            "k3s_bin_path": str(self.bin / "k3s"),
            "k3s_data_dir": str(root / "var/lib/rancher/k3s"),
            "k3s_config_dir": str(root / "etc/rancher/k3s"),
            "k3s_systemd_dir": str(root / "etc/systemd/system"),
        }
