"""The prune plan of etcd snapshots (module_utils/k3s/etcd_snapshot.py): k3s's own rule."""

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.etcd_snapshot import (
    SnapshotError,
    created_at,
    prune_plan,
)


def files(*names, mtime=1000):
    return [{"path": f"/var/lib/rancher/k3s/server/db/snapshots/{name}", "mtime": mtime} for name in names]


def test_keeps_the_newest_by_the_time_in_the_name_not_by_name_order():
    plan = prune_plan(
        files("gauntlet-b-s1-1700000300", "gauntlet-a-s1-1700000100", "gauntlet-c-s1-1700000200"), "gauntlet", 2
    )
    assert plan == {
        "keep": ["gauntlet-b-s1-1700000300", "gauntlet-c-s1-1700000200"],
        "delete": ["gauntlet-a-s1-1700000100"],
    }


def test_only_the_prefix_is_pruned_and_checksum_files_never_count():
    plan = prune_plan(
        files(
            "gauntlet-x-s1-3", "gauntlet-x-s1-3.sha256", "gauntlet-y-s1-2", "gauntlet-y-s1-2.sha256",
            "etcd-snapshot-s1-1", "on-demand-s1-9",
        ),
        "gauntlet",
        1,
    )  # fmt: skip
    assert plan == {"keep": ["gauntlet-x-s1-3"], "delete": ["gauntlet-y-s1-2"]}


def test_a_compressed_snapshot_is_dated_by_its_name_and_a_name_without_time_by_mtime():
    assert created_at("gauntlet-a-s1-1700000000.zip", 5) == 1700000000
    assert created_at("gauntlet-before-upgrade", 5.7) == 5
    plan = prune_plan(
        [{"path": "d/gauntlet-old", "mtime": 10}, {"path": "d/gauntlet-a-s1-20.zip", "mtime": 1}], "gauntlet", 1
    )
    assert plan == {"keep": ["gauntlet-a-s1-20.zip"], "delete": ["gauntlet-old"]}


def test_fewer_than_kept_deletes_nothing():
    assert prune_plan(files("gauntlet-a-s1-1"), "gauntlet", 5) == {"keep": ["gauntlet-a-s1-1"], "delete": []}
    assert prune_plan([], "gauntlet", 5) == {"keep": [], "delete": []}


@pytest.mark.parametrize(
    ("prefix", "keep", "says"),
    [("", 3, "prefix is empty"), ("gauntlet", 0, "keep at least 1"), ("gauntlet", "many", "not a number")],
)
def test_bad_settings_say_what_to_set(prefix, keep, says):
    with pytest.raises(SnapshotError, match=says):
        prune_plan(files("gauntlet-a-s1-1"), prefix, keep)
