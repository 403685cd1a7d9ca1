"""Run pieces of the k3s role for a small cluster whose hosts are all this machine.

Three servers (s1..s3) and one agent (a1) with `connection: local`: the role's own task files and
templates run as they would per node, and each test reads what they wrote. Used by the k3s
address and token tests (tests/integration/test_k3s_{addresses,tokens}.py).
"""

import json
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
