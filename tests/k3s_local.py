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


def run_play(tmp_path: Path, env: dict, play: str, variables: dict) -> subprocess.CompletedProcess:
    """ansible-playbook `play` on the four local nodes with `variables` as extra vars."""
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(INVENTORY))
    (tmp_path / "play.yml").write_text(play)
    return subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=300,
    )  # fmt: skip
