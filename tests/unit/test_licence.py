"""One licence for the collection: galaxy.yml's, in LICENSE and in every plugin's header."""

import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
HEADER = "# SPDX-License-Identifier: Apache-2.0"


def test_galaxy_names_the_licence_that_license_holds():
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert galaxy["license"] == ["Apache-2.0"]
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_every_plugin_and_role_script_carries_that_licence_and_no_other():
    files = subprocess.run(
        ["git", "ls-files", "plugins/*.py", "roles/*.py"], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout.split()
    assert len(files) > 40
    wrong = []
    for name in files:
        head = (REPO / name).read_text().splitlines()[:6]
        if HEADER not in head or any("GNU General Public License" in line for line in head):
            wrong.append(name)
    assert not wrong, f"files without the one licence header ({HEADER}): {wrong}"
