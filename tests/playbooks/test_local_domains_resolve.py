"""local_domains' resolver check with the real getent, on this machine, in a mount namespace
of its own whose /etc is a copy (so the role's real run writes /etc/hosts there, and getent
reads it there): every name must resolve to its inventory address, and a name that resolves
elsewhere fails the run, naming the name and both addresses.

As root (mount namespaces); the run contacts nothing (connection local, no network use).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAY = """---
- name: The local_domains role on this machine, in a private /etc
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - role: gauntlet.platform.local_domains
"""
# Runs the command with a private copy of /etc bound over /etc (the copy's path is $1).
PRIVATE_ETC = 'mount --bind "$1" /etc && shift && exec "$@"'


@pytest.fixture
def private_etc(tmp_path):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare (a mount namespace with a private /etc)")
    etc = tmp_path / "etc"
    subprocess.run(["cp", "-a", "/etc", str(etc)], check=True)
    return etc


def run_role(tmp_path, etc: Path, ansible_env) -> subprocess.CompletedProcess:
    playbook = tmp_path / "local_domains.yml"
    playbook.write_text(PLAY)
    command = ["ansible-playbook", "-i", str(REPO / "inventory/sample"), str(playbook)]
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", PRIVATE_ETC, "private-etc", str(etc), *command],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip


def test_every_domain_resolves_to_its_address_after_a_real_run(tmp_path, private_etc, ansible_env):
    result = run_role(tmp_path, private_etc, ansible_env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "verify | Resolve every domain through the system resolver" in result.stdout
    assert "gitea.local" in (private_etc / "hosts").read_text()  # the role wrote the copy, not /etc
    assert "# BEGIN" in (private_etc / "hosts").read_text()


def test_a_domain_resolving_elsewhere_fails_naming_it(tmp_path, private_etc, ansible_env):
    # An older line before the role's block wins in getent: gitea.local resolves elsewhere.
    hosts = private_etc / "hosts"
    hosts.write_text("127.0.0.1 localhost\n10.9.9.9 gitea.local\n" + hosts.read_text())
    result = run_role(tmp_path, private_etc, ansible_env)
    assert result.returncode != 0, result.stdout[-4000:]
    assert "gitea.local resolves to 10.9.9.9" in result.stdout, result.stdout[-4000:]
    assert "Traceback" not in result.stdout + result.stderr
