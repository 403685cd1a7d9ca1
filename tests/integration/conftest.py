"""Helpers for tests that run the real ansible-playbook against this checkout."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def ansible_env():
    """The checkout's ansible.cfg, with no fact cache shared between tests."""

    def make(tmp_path):
        return dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )

    return make


@pytest.fixture
def run_playbook(tmp_path, ansible_env):
    def run(playbook, inventory, *args):
        return subprocess.run(
            ["ansible-playbook", str(REPO / "playbooks" / playbook), "-i", str(inventory), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=ansible_env(tmp_path),
            check=False,
            timeout=300,
        )

    return run
