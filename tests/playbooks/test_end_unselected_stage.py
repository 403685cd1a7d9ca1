"""A stage's play ends at once when the run's tags name only other stages or skip this one
(playbooks/tasks/end_unselected_stage.yml, docs/reruns.md): its roles' argument checks, tagged
`always`, no longer run for stages nobody asked for. A play that stands for the k3s stage,
run on this machine (connection local, nothing contacted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAY = f"""---
- name: A play of the k3s stage
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: {sys.executable}
  pre_tasks:
    - name: End the play when the run selects other stages only
      ansible.builtin.import_tasks: {REPO}/playbooks/tasks/end_unselected_stage.yml
      vars:
        __gauntlet_stage: k3s
      tags: [always]
  tasks:
    - name: Stands for an argument check
      ansible.builtin.debug:
        msg: argument check ran
      tags: [always]
"""


@pytest.mark.parametrize(
    ("args", "runs"),
    [
        (["--tags", "hosts,registry,preload"], False),
        (["--skip-tags", "k3s,platform,verify"], False),
        (["--tags", "hosts,k3s"], True),
        (["--tags", "traefik"], True),  # a role's own tag: its stage runs
        ([], True),
    ],
    ids=["other-stages", "skipped", "named", "role-tag", "all"],
)
def test_the_play_ends_unless_the_run_may_select_it(tmp_path, ansible_env, args, runs):
    (tmp_path / "play.yml").write_text(PLAY)
    result = subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", "localhost,", *args],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert ("argument check ran" in result.stdout) is runs
