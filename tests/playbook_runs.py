"""How the tests start ``ansible-playbook`` on one of the collection's playbooks."""

from __future__ import annotations

from pathlib import Path

import loopback_netns

REPO_ROOT = Path(__file__).resolve().parents[1]


def playbook_command(playbook, inventory, *args, isolated=False) -> list[str]:
    """The command line of ``ansible-playbook playbooks/<playbook>``; ``isolated`` wraps it in a
    loopback-only network namespace (skipping the test, or failing it in CI, when none can be made)."""
    command = ["ansible-playbook", str(REPO_ROOT / "playbooks" / playbook), "-i", str(inventory), *args]
    if isolated:
        loopback_netns.require()
        command = loopback_netns.isolated(command)
    return command


def role_play(role: str) -> str:
    """A playbook that runs one role of the collection on the controller (render mode when the
    caller sets gauntlet_render_dir)."""
    return (
        f"---\n- name: Render the {role.capitalize()} role\n  hosts: localhost\n  connection: local\n"
        f"  gather_facts: false\n  roles:\n    - gauntlet.platform.gauntlet\n    - gauntlet.platform.{role}\n"
    )
