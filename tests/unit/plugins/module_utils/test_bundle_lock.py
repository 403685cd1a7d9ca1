import json

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bl

D = "sha256:" + "b" * 64


def test_roundtrip_and_idempotent_write(tmp_path):
    path = tmp_path / "sub" / "bundle.lock.json"
    lock = bl.load_lock(str(path))
    assert lock == bl.empty_lock()
    bl.set_image(
        lock,
        "quay.io/a/b:1",
        D,
        media_type="application/vnd.oci.image.index.v1+json",
        platforms=["linux/arm64", "linux/amd64"],
    )
    bl.set_file(lock, "k3s", "sha256:" + "c" * 64, url="https://example.invalid/k3s")
    bl.set_image(lock, "docker.io/library/nginx:1", D)
    assert bl.write_lock(str(path), lock) is True
    assert bl.write_lock(str(path), lock) is False
    loaded = bl.load_lock(str(path))
    assert [e["name"] for e in loaded["images"]] == ["docker.io/library/nginx:1", "quay.io/a/b:1"]
    assert bl.get_image(loaded, "quay.io/a/b:1")["platforms"] == ["linux/amd64", "linux/arm64"]
    assert bl.get_file(loaded, "k3s") == {"name": "k3s", "sha256": "c" * 64, "url": "https://example.invalid/k3s"}
    # Upsert replaces.
    bl.set_image(loaded, "quay.io/a/b:1", "sha256:" + "d" * 64)
    assert len(loaded["images"]) == 2
    assert bl.write_lock(str(path), loaded) is True


def test_errors(tmp_path):
    with pytest.raises(bl.BundleLockError, match="does not exist"):
        bl.load_lock(str(tmp_path / "none.json"), missing_ok=False)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(bl.BundleLockError, match="not valid JSON"):
        bl.load_lock(str(bad))
    bad.write_text(json.dumps({"version": 9}))
    with pytest.raises(bl.BundleLockError, match="unsupported lock version"):
        bl.load_lock(str(bad))
    bad.write_text(json.dumps({"version": 1, "images": [{"name": "x", "digest": "md5:1"}]}))
    with pytest.raises(bl.BundleLockError, match="invalid image entry"):
        bl.load_lock(str(bad))
    with pytest.raises(bl.BundleLockError):
        bl.set_file(bl.empty_lock(), "f", "xyz")
    with pytest.raises(bl.BundleLockError):
        bl.set_image(bl.empty_lock(), "f", "sha256:zz")


def test_retain_keeps_exactly_the_names_asked_for():
    lock = bl.empty_lock()
    for name in ("quay.io/a/app:2", "quay.io/a/app:3", "quay.io/a/base:1"):
        bl.set_image(lock, name, D)
    bl.set_file(lock, "k3s/v1/k3s", "c" * 64)
    bl.set_file(lock, "old/notes.txt", "c" * 64)
    removed = bl.retain(lock, "images", ["quay.io/a/base:1", "quay.io/a/app:3", "quay.io/a/new:1"])
    assert [e["name"] for e in removed] == ["quay.io/a/app:2"]
    assert [e["name"] for e in lock["images"]] == ["quay.io/a/app:3", "quay.io/a/base:1"]
    assert [e["name"] for e in bl.retain(lock, "files", {"k3s/v1/k3s"})] == ["old/notes.txt"]
    assert [e["name"] for e in lock["files"]] == ["k3s/v1/k3s"]
    assert bl.retain(lock, "files", ["k3s/v1/k3s"]) == []
    assert bl.retain(lock, "wheels", []) == []
    with pytest.raises(bl.BundleLockError, match="unknown lock section"):
        bl.retain(lock, "charts", [])
