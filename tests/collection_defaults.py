"""The collection's defaults and inventory/sample's own variables, read as YAML.

Role gauntlet's defaults (roles/gauntlet/defaults/main/*.yml) are the pinned versions,
bundle files, images and contracts every play of the collection lists below the
inventory; inventory/sample/group_vars/all/ holds only a site's own choices. Tests that
need a pinned value read it here, from the one place it is written.
"""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = REPO / "roles" / "gauntlet" / "defaults" / "main"
SAMPLE_VARS = REPO / "inventory" / "sample" / "group_vars" / "all"
# A play of a test lists it first, as every playbook of the collection does.
DEFAULTS_ROLE = "gauntlet.platform.gauntlet"


def _merged(folder: Path) -> dict:
    variables = {}
    for path in sorted(folder.glob("*.yml")):
        variables.update(yaml.safe_load(path.read_text()) or {})
    return variables


def collection_defaults() -> dict:
    """Every variable of role gauntlet's defaults, unrendered."""
    return _merged(DEFAULTS)


def sample_variables() -> dict:
    """Every variable of inventory/sample/group_vars/all, unrendered."""
    return _merged(SAMPLE_VARS)


def pinned_versions() -> dict:
    """Component -> the version the collection pins (gauntlet_collection_versions)."""
    return collection_defaults()["gauntlet_collection_versions"]
