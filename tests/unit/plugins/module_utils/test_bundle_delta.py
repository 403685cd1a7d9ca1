"""Differential bundles below the playbooks: the lock's delta fields, planning from a base lock
written before locks listed image content, refusals, and the diff's pairing of retagged images.
The end-to-end run against a real registry is tests/services/test_bundle_delta.py."""

import copy
import hashlib
import json

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.delta import (
    DeltaError,
    base_lock_problem,
    base_problems,
    external_blobs,
    plan_delta,
    refusal,
    write_delta,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.diff import diff_locks, diff_text
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import check_bundle_files
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import tree_from_source
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from lock_bundle import make_bundle

SHA_A, SHA_B = "a" * 64, "b" * 64


def with_content(folder):
    """The lock of make_bundle's folder with every image's manifests and blobs, as image_bundle writes it."""
    lock = bundle_lock.load_lock(str(folder / "bundle.lock.json"), missing_ok=False)
    layout = OciLayout(str(folder / "images"))
    for entry in lock["images"]:
        tree = tree_from_source(layout, entry["name"], entry["digest"], entry.get("media_type"))
        entry["manifests"] = [{"digest": d, "size": len(b), "media_type": m} for d, m, b in tree.manifests]
        entry["blobs"] = [{"digest": d, "size": s} for d, s in sorted(tree.blobs.items())]
    return lock


def test_lock_rejects_bad_delta_fields():
    lock = bundle_lock.empty_lock()
    bundle_lock.set_file(lock, "f", SHA_A)
    lock["files"][0]["carried"] = "yes"
    with pytest.raises(bundle_lock.BundleLockError, match="'carried' must be true or false"):
        bundle_lock.validate_lock(lock)
    with pytest.raises(bundle_lock.BundleLockError, match="invalid 'base'"):
        bundle_lock.validate_lock({"version": 1, "base": {"name": "x", "sha256": "nope"}})
    bad = {"version": 1, "images": [{"name": "n", "digest": "sha256:" + SHA_A, "blobs": [{"digest": "x", "size": 1}]}]}
    with pytest.raises(bundle_lock.BundleLockError, match="invalid blobs entry"):
        bundle_lock.validate_lock(bad)
    good = {"version": 1, "base": {"name": "b.json", "path": "/b.json", "sha256": SHA_B}, "images": [], "files": []}
    assert json.loads(bundle_lock.dump_lock(good))["base"]["sha256"] == SHA_B


def test_plan_from_an_old_base_lock_reads_the_layout(tmp_path):
    make_bundle(tmp_path / "full", {"quay.io/a/x:1": ["linux/amd64"], "quay.io/a/y:1": ["linux/amd64"]})
    base_lock = tmp_path / "full" / "bundle.lock.json"
    since = tmp_path / "base.lock.json"
    since.write_text(base_lock.read_text())  # no manifests/blobs: written before differential bundles
    full = with_content(tmp_path / "full")
    layout = OciLayout(str(tmp_path / "full" / "images"))
    delta = plan_delta(full, str(since), layout)
    assert [i["carried"] for i in delta["images"]] == [False, False]
    # Without the layout nothing of the old base is known: unchanged images stay uncarried, a
    # changed one would carry all its blobs (see the test below).
    assert [i["carried"] for i in plan_delta(full, str(since), None)["images"]] == [False, False]
    old_full = copy.deepcopy(full)
    for entry in old_full["images"]:
        del entry["blobs"]
    with pytest.raises(DeltaError, match="no manifests and blobs in the new lock"):
        plan_delta(old_full, str(since), layout)


def test_write_delta_never_replaces_a_folder_that_is_not_a_delta(tmp_path):
    make_bundle(tmp_path / "full", {"quay.io/a/x:1": ["linux/amd64"]})
    since = tmp_path / "base.lock.json"
    full = with_content(tmp_path / "full")
    bundle_lock.write_lock(str(since), full)
    delta = plan_delta(full, str(since))
    other = tmp_path / "photos"
    other.mkdir()
    (other / "keep.jpg").write_bytes(b"x")
    with pytest.raises(DeltaError, match="not empty and is not a differential bundle"):
        write_delta(str(tmp_path / "full"), str(other), delta)
    assert (other / "keep.jpg").exists()
    with pytest.raises(DeltaError, match="full bundle's own folder"):
        write_delta(str(tmp_path / "full"), str(tmp_path / "full"), delta)
    first = write_delta(str(tmp_path / "full"), str(tmp_path / "d"), delta)
    assert first["changed"] is True and first["blobs"] == [] and first["images_from_base"] == ["quay.io/a/x:1"]
    assert write_delta(str(tmp_path / "full"), str(tmp_path / "d"), delta)["changed"] is False
    # A delta's lock as the next base: its files are in two folders on the controller.
    with pytest.raises(DeltaError, match="is the lock of a differential bundle"):
        plan_delta(full, str(tmp_path / "d" / "bundle.lock.json"))


def test_base_dir_must_hold_the_named_base(tmp_path):
    delta = {"base": {"name": "bundle.lock.json", "path": "/srv/v1/bundle.lock.json", "sha256": SHA_A}}
    assert "set gauntlet_bundle_base_dir" in base_lock_problem(delta, "")
    assert "no readable bundle.lock.json" in base_lock_problem(delta, str(tmp_path))
    (tmp_path / "bundle.lock.json").write_text("{}")
    assert "is not this delta's base" in base_lock_problem(delta, str(tmp_path))
    assert base_lock_problem({"files": []}, None) is None


def test_check_of_a_delta_takes_uncarried_files_from_its_base(tmp_path):
    """A delta's uncarried file is read from the base whose lock the delta names; a wrong or
    missing base is named once for every file it would serve."""
    base, delta, other = tmp_path / "base", tmp_path / "delta", tmp_path / "other"
    for folder, text in ((base, "base"), (other, "other")):
        (folder / "files/k3s/v1").mkdir(parents=True)
        (folder / "bundle.lock.json").write_text(json.dumps({"version": 1, "files": [], "images": [], "note": text}))
    (base / "files/k3s/v1/k3s").write_bytes(b"binary")
    (delta / "files/k3s/v1").mkdir(parents=True)
    (delta / "files/k3s/v1/images").write_bytes(b"images")
    sha = bundle_lock.lock_sha256
    lock = {
        "version": 1,
        "base": {"name": "bundle.lock.json", "sha256": sha(str(base / "bundle.lock.json"))},
        "files": [
            {"name": "k3s/v1/k3s", "sha256": hashlib.sha256(b"binary").hexdigest(), "carried": False},
            {"name": "k3s/v1/images", "sha256": hashlib.sha256(b"images").hexdigest(), "carried": True},
        ],
        "images": [],
    }
    (delta / "bundle.lock.json").write_text(json.dumps(lock))
    names = ["k3s/v1/k3s", "k3s/v1/images"]
    paths, problems = check_bundle_files(str(delta), names, str(base))
    assert problems == []
    assert paths == {"k3s/v1/k3s": str(base / "files/k3s/v1/k3s"), "k3s/v1/images": str(delta / "files/k3s/v1/images")}
    paths, problems = check_bundle_files(str(delta), names, None)
    assert list(paths) == ["k3s/v1/images"]
    assert len(problems) == 1 and problems[0].startswith(f"k3s/v1/k3s is not in {delta}: ")
    assert "set gauntlet_bundle_base_dir" in problems[0]
    problems = check_bundle_files(str(delta), names, str(other))[1]
    assert len(problems) == 1 and "is not this delta's base" in problems[0]


def entry(name, digest, blobs):
    return {
        "name": name,
        "digest": "sha256:" + digest * 64,
        "manifests": [{"digest": "sha256:" + digest * 64, "size": 100, "media_type": "m"}],
        "blobs": [{"digest": "sha256:" + b * 64, "size": 1048576} for b in blobs],
    }


def test_diff_pairs_a_retag_and_counts_only_new_bytes():
    old = {
        "images": [entry("docker.io/a/app:2", "1", "ab"), entry("quay.io/x/gone:1", "2", "c")],
        "files": [{"name": "f", "sha256": SHA_A, "size": 10}],
        "wheels": [{"name": "w", "version": "1", "filename": "w-1.whl", "sha256": SHA_A}],
    }
    new = {
        "images": [
            entry("docker.io/a/app:3", "3", "abd"),
            entry("ghcr.io/y/new:1", "4", "ae"),
            entry("quay.io/x/two:1", "5", "a"),
            entry("quay.io/x/two:2", "6", "a"),
        ],
        "files": [{"name": "f", "sha256": SHA_B, "size": 20}, {"name": "g", "sha256": SHA_A}],
        "wheels": [{"name": "w", "version": "2", "filename": "w-2.whl", "sha256": SHA_B}],
    }
    diff = diff_locks(
        bundle_lock.validate_lock({"version": 1, **old}), bundle_lock.validate_lock({"version": 1, **new})
    )
    [change] = diff["images"]["changed"]
    assert (change["old"]["tag"], change["new"]["tag"]) == ("2", "3")
    assert change["new"]["new_bytes"] == 1048576 + 100  # layer d and the new manifest, not a and b
    assert [a["name"] for a in diff["images"]["added"]] == ["ghcr.io/y/new:1", "quay.io/x/two:1", "quay.io/x/two:2"]
    assert [r["name"] for r in diff["images"]["removed"]] == ["quay.io/x/gone:1"]
    assert diff["files"]["changed"][0]["new"] == {"sha256": SHA_B, "size": 20}
    assert diff["files"]["added"] == [{"name": "g", "sha256": SHA_A, "size": None}]
    assert diff["wheels"]["changed"] == [{"name": "w", "old": "1", "new": "2"}]
    text = "\n".join(diff_text(diff))
    assert "~ docker.io/a/app 2 -> 3" in text and "1.0 MiB new" in text
    assert "+ g aaaaaaaaaaaa; size unknown" in text and "~ w 1 -> 2" in text


class RegistryDouble:
    """A test double of RegistryClient's HEAD calls: {(repo, ref): digest} and {(repo, blob)}."""

    registry = "reg.test:5000"

    def __init__(self, manifests, blobs):
        self.manifests, self.blobs = manifests, blobs

    def manifest_digest(self, repo, ref):
        digest = self.manifests.get((repo, ref))
        return (digest, "m") if digest else None

    def blob_exists(self, repo, digest):
        return (repo, digest) in self.blobs


def test_base_problems_name_what_the_registry_lacks_whatever_the_image_order():
    # An uncarried image sorts first and shares the layer a carried image leaves in the base.
    shared = "sha256:" + "c" * 64
    first = entry("docker.io/a/aaa:1", "1", "c")
    first["carried"] = False
    for item in first["blobs"]:
        item["carried"] = False
    second = entry("docker.io/a/zzz:2", "2", "cd")
    second["carried"] = True
    second["blobs"][0].update(carried=False, base_image="docker.io/a/zzz:1")
    second["blobs"][1]["carried"] = True
    delta = {"base": {"name": "v1.lock.json", "sha256": SHA_A}, "images": [first, second]}
    empty = RegistryDouble({}, set())
    problems = base_problems(delta, empty)
    assert problems == [
        f"image docker.io/a/aaa:1 {first['digest']} at reg.test:5000/docker.io/a/aaa:1 (it is not there)",
        f"blob {shared} of docker.io/a/zzz:2 (from base image docker.io/a/zzz:1) in reg.test:5000/docker.io/a/zzz",
    ]
    assert "Preload the base bundle first (its lock v1.lock.json" in refusal(delta, problems)
    full = RegistryDouble({("docker.io/a/aaa", "1"): first["digest"]}, {("docker.io/a/zzz", shared)})
    assert base_problems(delta, full) == []
    assert external_blobs(delta, "reg.test:5000") == {shared: "docker.io/a/zzz"}


def test_module_refuses_the_bundles_own_lock_and_a_missing_one(tmp_path, capsys):
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.gauntlet.platform.plugins.modules import bundle_delta as module

    make_bundle(tmp_path / "full", {"quay.io/a/x:1": ["linux/amd64"]})

    def run(since):
        args = {"bundle_dir": str(tmp_path / "full"), "since": str(since), "dest": str(tmp_path / "d")}
        with patch_module_args(args), pytest.raises(SystemExit):
            module.main()
        return json.loads(capsys.readouterr().out)

    own = run(tmp_path / "full" / "bundle.lock.json")
    assert own["failed"] is True and "copy the old lock aside" in own["msg"]
    gone = run(tmp_path / "nope.json")
    assert gone["failed"] is True and "does not exist" in gone["msg"]
    assert not (tmp_path / "d").exists()


def test_plan_from_an_old_base_lock_after_an_upgrade_carries_what_the_layout_no_longer_shows(tmp_path):
    """The base lock predates content lists and the new bundle's layout no longer holds the old
    image (image_bundle removed it and its own blobs): what only it held is carried, never assumed."""
    make_bundle(tmp_path / "v1", {"quay.io/a/x:1": ["linux/amd64"], "quay.io/a/y:1": ["linux/amd64"]})
    since = tmp_path / "base.lock.json"
    since.write_text((tmp_path / "v1" / "bundle.lock.json").read_text())  # no manifests/blobs
    made = make_bundle(tmp_path / "v2", {"quay.io/a/x:1": ["linux/amd64"], "quay.io/a/y:2": ["linux/amd64"]})
    full = with_content(tmp_path / "v2")
    delta = plan_delta(full, str(since), OciLayout(str(tmp_path / "v2" / "images")))
    x, y2 = delta["images"]
    assert (x["carried"], y2["carried"]) == (False, True)
    config = made["quay.io/a/y:2"]["platforms"]["linux/amd64"]["config"]
    carried = {b["digest"] for b in y2["blobs"] if b["carried"]}
    assert carried == {config}
    # The layer x:1 shares is in the registry under x:1 (its manifest is in the layout).
    assert {b["base_image"] for b in y2["blobs"] if not b["carried"]} == {"quay.io/a/x:1"}
