"""Every version pinned in inventory/sample passes the format rule validation applies to it."""

import re
from pathlib import Path

import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.pins import (
    _DEFAULT_VERSION_FORMAT,
    VERSION_FORMATS,
)

SAMPLE = Path(__file__).resolve().parents[4] / "inventory/sample/group_vars/all/versions.yml"


def test_every_version_of_the_sample_passes_its_format_rule():
    versions = yaml.safe_load(SAMPLE.read_text())["gauntlet_versions"]
    wrong = {
        component: version
        for component, version in versions.items()
        if not re.match(VERSION_FORMATS.get(component, _DEFAULT_VERSION_FORMAT)[0], str(version))
    }
    assert wrong == {}
