"""The bundle lock the k3s Molecule scenario writes is one the collection accepts.

CI of stop 22 failed in Molecule's check step: the scenario wrote its lock without a
``version`` and the k3s stage's bundle check (which reads the lock like a real bundle)
refused it. The scenario's lock template is rendered here and validated by the same code.
"""

import json
from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import validate_lock

ROOT = Path(__file__).resolve().parents[2]


def lock_template() -> str:
    plays = yaml.safe_load((ROOT / "molecule" / "k3s" / "prepare.yml").read_text())
    tasks = [task for play in plays for task in play.get("tasks", [])]
    task = next(task for task in tasks if task.get("name") == "Write the bundle lock")
    return task["ansible.builtin.copy"]["content"]


def test_the_k3s_scenario_writes_a_lock_the_bundle_check_accepts():
    sums = {
        "results": [
            {"item": "k3s/v1.36.4+k3s1/k3s", "stat": {"checksum": "a" * 64}},
            {"item": "k3s/v1.36.4+k3s1/k3s-airgap-images-amd64.tar.zst", "stat": {"checksum": "b" * 64}},
        ]
    }
    text = Templar(loader=DataLoader(), variables={"__scenario_sums": sums}).template(
        trust_as_template(lock_template())
    )
    lock = validate_lock(json.loads(text), "molecule/k3s/prepare.yml's lock")
    assert [entry["name"] for entry in lock["files"]] == [result["item"] for result in sums["results"]]
