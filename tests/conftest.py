"""Make the checkout importable as ansible_collections.gauntlet.platform.

The repository root is the collection; collections/ansible_collections/gauntlet/platform
is a committed symlink to it, so putting collections/ on sys.path is enough.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_DIR = REPO_ROOT / "collections"
UPSTREAM_DIR = REPO_ROOT.parent / "shared" / "upstream"

if str(COLLECTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_DIR))
# Plain helper modules shared by tests (tls_material) import by name under importlib mode.
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.insert(1, str(REPO_ROOT / "tests"))


@pytest.fixture
def ansible_env():
    """The checkout's ansible.cfg, with no fact cache shared between tests."""

    def make(tmp_path):
        return dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
            ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )

    return make


@pytest.fixture
def run_playbook(tmp_path, ansible_env):
    def run(playbook, inventory, *args):
        return subprocess.run(
            ["ansible-playbook", str(REPO_ROOT / "playbooks" / playbook), "-i", str(inventory), *args],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=ansible_env(tmp_path),
            check=False,
            timeout=300,
        )

    return run
