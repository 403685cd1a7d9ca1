"""The collection's data stays in the collection, the site's choices in the inventory (issue 16 item 2).

Role gauntlet's defaults (roles/gauntlet/defaults/main/) hold the pinned versions, bundle files,
images and the contracts between the roles; inventory/sample/group_vars/all/ holds only what a
site chooses. A site's inventory is a copy of the sample: whatever the sample held would be
frozen in every site at the release it was copied from.
"""

import pytest
import yaml
from collection_defaults import DEFAULTS, DEFAULTS_ROLE, REPO, collection_defaults, sample_variables

ROLE = DEFAULTS.parents[1]
SPECS = yaml.safe_load((REPO / "meta" / "inventory_variables.yml").read_text())["options"]
PLAYBOOKS = [*sorted((REPO / "playbooks").glob("*.yml")), REPO / "scripts" / "lab-bundle.yml"]


def test_no_variable_is_both_the_sites_and_the_collections():
    assert not set(sample_variables()) & set(collection_defaults())


def test_the_sample_sets_no_pinned_value():
    pinned = {name for name, spec in SPECS.items() if spec.get("pinned")}
    assert pinned, "meta/inventory_variables.yml marks the pinned data"
    assert pinned <= set(collection_defaults())
    assert not pinned & set(sample_variables())
    assert not (REPO / "inventory" / "sample" / "group_vars" / "all" / "versions.yml").exists()


def test_the_defaults_read_nothing_relative_to_the_inventory_or_the_checkout():
    # A site's inventory may live anywhere; the collection is installed anywhere. What the
    # site reads from a checkout (its workload's files) stays in its inventory.
    for path in sorted(DEFAULTS.glob("*.yml")):
        text = path.read_text()
        assert "lookup(" not in text and "../" not in text, path.name


def test_the_role_only_carries_defaults():
    # No tasks and no argument specs: an argument spec would add a task to every play and
    # template its defaults at role start. Its one task file is the controller roles' guard, an
    # entry point they import (tasks_from: controller); no main.yml, so listing the role runs nothing.
    assert sorted(p.name for p in ROLE.iterdir()) == ["defaults", "meta", "tasks"]
    assert sorted(p.name for p in (ROLE / "tasks").iterdir()) == ["controller.yml"]
    assert sorted(p.name for p in (ROLE / "meta").iterdir()) == ["main.yml"]


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.name)
def test_every_play_lists_the_defaults_first(playbook):
    for play in yaml.safe_load(playbook.read_text()):
        if "hosts" not in play:
            continue  # import_playbook
        roles = [r["role"] if isinstance(r, dict) else r for r in play.get("roles") or []]
        assert roles[:1] == [DEFAULTS_ROLE], f"{playbook.name}: play '{play['name']}'"


def test_validation_names_the_pins_file_that_exists():
    from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.pins import PINS_FILE

    assert (REPO / PINS_FILE) == DEFAULTS / "versions.yml"
    defaults = collection_defaults()
    assert defaults["gauntlet_versions"] == "{{ gauntlet_collection_versions | combine(gauntlet_version_overrides) }}"
    assert defaults["gauntlet_version_overrides"] == {}
