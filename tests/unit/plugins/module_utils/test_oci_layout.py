"""OCI layout and archive readers on small hand-made content."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError, DigestMismatchError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_archive import open_source
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_write_blob_verifies_and_is_atomic(tmp_path):
    layout = OciLayout(str(tmp_path / "l"), create=True)
    data = b"hello" * 1000
    assert layout.write_blob(sha(data), io.BytesIO(data), len(data), "img") == len(data)
    assert layout.read_blob(sha(data), "img") == data
    wrong = sha(b"other")
    with pytest.raises(DigestMismatchError, match=f"digest mismatch for blob {wrong} of img"):
        layout.write_blob(wrong, io.BytesIO(data), len(data), "img")
    assert not layout.has_blob(wrong)
    assert [p.name for p in (tmp_path / "l" / "blobs" / "sha256").iterdir()] == [sha(data)[7:]]
    with pytest.raises(ContentError, match="ended after 5 of 10 bytes"):
        layout.write_blob(sha(b"0123456789"), io.BytesIO(b"01234"), 10, "img")


def test_set_image_is_idempotent_and_named(tmp_path):
    layout = OciLayout(str(tmp_path / "l"), create=True)
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(b"m"), "size": 1}
    assert layout.set_image("docker.io/library/nginx:1", desc) is True
    assert layout.set_image("docker.io/library/nginx:1", desc) is False
    assert [(e.name, e.digest) for e in OciLayout(str(tmp_path / "l")).entries()] == [
        ("docker.io/library/nginx:1", sha(b"m"))
    ]


def test_not_a_layout_and_tag_only_names(tmp_path):
    with pytest.raises(ContentError, match="not an OCI image layout"):
        OciLayout(str(tmp_path))
    layout = OciLayout(str(tmp_path / "l"), create=True)
    index = {
        "schemaVersion": 2,
        "manifests": [{"digest": sha(b"m"), "size": 1, "annotations": {"org.opencontainers.image.ref.name": "1.27"}}],
    }
    (tmp_path / "l" / "index.json").write_text(json.dumps(index))
    with pytest.raises(ContentError, match=r"has no image name.*oci:DIR:docker.io/library/nginx:1.27"):
        layout.entries()


def test_compressed_and_foreign_archives(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "a.tar.gz").write_bytes(gzip.compress(buf.getvalue()))
    with pytest.raises(ContentError, match=r"compressed.*decompress it first"):
        open_source(str(tmp_path / "a.tar.gz"))
    (tmp_path / "a.tar").write_bytes(buf.getvalue())
    with pytest.raises(ContentError, match="neither an oci-archive"):
        open_source(str(tmp_path / "a.tar"))
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ContentError):
        open_source(str(tmp_path / "junk.tar"))


# -- retain: the layout holds exactly the images asked for -------------------------------

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


def _put(layout, obj) -> dict:
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    layout.write_bytes(sha(data), data, "test")
    return {"digest": sha(data), "size": len(data)}


def _image(layout, layers: list[bytes], arch="amd64") -> dict:
    """An image manifest over real (hashed) config and layer blobs; returns its descriptor."""
    diff_ids = [sha(raw) for raw in layers]  # stand-ins: the layers are not real tars
    config = _put(layout, {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(_put(layout, raw), mediaType="application/vnd.oci.image.layer.v1.tar+gzip") for raw in layers],
    }
    return dict(_put(layout, manifest), mediaType=MT_MANIFEST)


def _blobs(path) -> set:
    return {f"sha256:{p.name}" for p in (path / "blobs" / "sha256").iterdir() if not p.name.startswith(".")}


@pytest.fixture
def upgraded(tmp_path):
    """app:2 and app:3 share the base layer; multi:1 is an index whose amd64 child manifest is
    also tagged on its own (solo:1) and whose arm64 child is not in the layout (a platform-filtered
    bundle); an orphan blob from an interrupted run and a partial download lie beside them."""
    layout = OciLayout(str(tmp_path / "l"), create=True)
    app2 = _image(layout, [b"base layer", b"app 2 layer"])
    app3 = _image(layout, [b"base layer", b"app 3 layer"])
    amd64 = _image(layout, [b"base layer", b"amd64 layer"])
    arm64_missing = {"digest": sha(b"not here"), "size": 8, "mediaType": MT_MANIFEST}
    children = [dict(amd64, platform={"os": "linux", "architecture": "amd64"}), arm64_missing]
    multi = dict(_put(layout, {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": children}), mediaType=MT_INDEX)
    for name, desc in [
        ("q.io/a/app:2", app2),
        ("q.io/a/app:3", app3),
        ("q.io/a/multi:1", multi),
        ("q.io/a/solo:1", amd64),
    ]:
        layout.set_image(name, desc)
    orphan = _put(layout, b"left by an interrupted run")["digest"]
    (tmp_path / "l" / "blobs" / "sha256" / ".partial-xyz").write_bytes(b"in flight")
    return layout, {"app2": app2, "app3": app3, "amd64": amd64, "multi": multi, "orphan": orphan}


def test_retain_removes_unlisted_images_and_only_their_own_blobs(tmp_path, upgraded):
    layout, d = upgraded
    app2_manifest = json.loads(layout.read_blob(d["app2"]["digest"], "t"))
    app2_own = {d["app2"]["digest"], app2_manifest["config"]["digest"], sha(b"app 2 layer")}
    solo_own = set()  # solo:1 is multi:1's amd64 child: nothing of it is its own
    before = _blobs(tmp_path / "l")

    plan = layout.retain(["q.io/a/app:3", "q.io/a/multi:1"], check_mode=True)
    assert [i["name"] for i in plan["images"]] == ["q.io/a/app:2", "q.io/a/solo:1"]
    assert set(plan["blobs"]) == app2_own | solo_own | {d["orphan"]}
    assert plan["blobs"][sha(b"app 2 layer")] == len(b"app 2 layer")
    assert _blobs(tmp_path / "l") == before, "check mode removed something"
    assert len(layout.entries()) == 4

    done = layout.retain(["q.io/a/app:3", "q.io/a/multi:1"])
    assert done == plan
    assert [e.name for e in OciLayout(str(tmp_path / "l")).entries()] == ["q.io/a/app:3", "q.io/a/multi:1"]
    assert _blobs(tmp_path / "l") == before - set(plan["blobs"])
    # Shared content stays: the base layer, and the amd64 manifest a kept index names.
    assert {sha(b"base layer"), d["amd64"]["digest"], sha(b"amd64 layer")} <= _blobs(tmp_path / "l")
    assert (tmp_path / "l" / "blobs" / "sha256" / ".partial-xyz").exists()
    # Every kept image still reads whole.
    assert layout.referenced(layout.entries()) >= _blobs(tmp_path / "l")
    again = layout.retain(["q.io/a/app:3", "q.io/a/multi:1"])
    assert again == {"images": [], "blobs": {}}


def test_retain_takes_names_in_any_form_and_refuses_to_guess(tmp_path, upgraded):
    layout, d = upgraded
    layout.set_image("docker.io/library/nginx:1.27", d["app3"])
    kept = layout.retain(["nginx:1.27", "q.io/a/app:2", "q.io/a/app:3", "q.io/a/multi:1", "q.io/a/solo:1"])
    assert kept == {"images": [], "blobs": {d["orphan"]: len(b"left by an interrupted run")}}
    # A kept manifest that is there but corrupt: what it references cannot be known, nothing is removed.
    (tmp_path / "l" / "blobs" / "sha256" / d["app3"]["digest"][7:]).write_bytes(b"garbage")
    with pytest.raises(ContentError, match="digest mismatch"):
        layout.retain(["q.io/a/app:3"])
    assert len(layout.entries()) == 5
