"""Every version the collection pins passes the format rule validation applies to it."""

import re
from pathlib import Path

import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.pins import (
    _DEFAULT_VERSION_FORMAT,
    VERSION_FORMATS,
)

PINS = Path(__file__).resolve().parents[4] / "roles/gauntlet/defaults/main/versions.yml"


def test_every_pinned_version_passes_its_format_rule():
    versions = yaml.safe_load(PINS.read_text())["gauntlet_collection_versions"]
    wrong = {
        component: version
        for component, version in versions.items()
        if not re.match(VERSION_FORMATS.get(component, _DEFAULT_VERSION_FORMAT)[0], str(version))
    }
    assert wrong == {}
