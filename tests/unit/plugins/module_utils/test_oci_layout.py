"""OCI layout and archive readers on small hand-made content."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.image_archive import open_source
from ansible_collections.gauntlet.platform.plugins.module_utils.oci_content import ContentError, DigestMismatchError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci_layout import OciLayout


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
