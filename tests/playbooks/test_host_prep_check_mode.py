"""--check on a fresh host that lacks packages and names a local package source (issue 11 item 12).

In check mode the source list is only "written", so apt cannot know the source's packages and
would fail with "No package matching". The role must report what it would install instead.
Runs the role's package tasks against this machine (connection local, check mode: nothing is
written), with a package name that exists nowhere.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MISSING = "gauntlet-no-such-package"

PLAY = """
- name: Host prep packages in check mode
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Packages
      ansible.builtin.include_role:
        name: gauntlet.platform.host_prep
        tasks_from: packages
"""


@pytest.fixture
def run_check(tmp_path):
    if not Path("/usr/bin/dpkg-query").exists():
        pytest.skip("dpkg-query is not here: the role's package check is Debian's")
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)

    def run(source):
        return subprocess.run(
            [
                "ansible-playbook",
                "-i",
                "localhost,",
                str(playbook),
                "--check",
                "--diff",
                "-e",
                f"ansible_python_interpreter={sys.executable}",
                "-e",
                f'{{"host_prep_packages": ["{MISSING}"], "host_prep_package_source": "{source}"}}',
            ],
            cwd=REPO,
            env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
            capture_output=True,
            text=True,
            check=False,
        )

    return run


def test_check_mode_reports_packages_a_new_source_would_install(run_check):
    result = run_check("deb [trusted=yes] file:/gauntlet-absent ./")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"would install {MISSING}" in result.stdout
    assert "No package matching" not in result.stdout


def test_without_a_source_missing_packages_still_stop(run_check):
    result = run_check("")
    assert result.returncode == 2
    assert f"lacks the packages {MISSING}" in result.stdout
