"""Split bundles for removable media, and joining them on the controller (issue 17 item 11)."""

import hashlib
import io
import json
import os
import tarfile

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.parts import (
    MANIFEST,
    MIN_PART_SIZE,
    BundlePartsError,
    join,
    split,
)

PART = MIN_PART_SIZE


@pytest.fixture
def bundle(tmp_path):
    root = tmp_path / "bundle"
    (root / "files/k3s/v1.36.4+k3s1").mkdir(parents=True)
    (root / "images/blobs/sha256").mkdir(parents=True)
    (root / "bundle.lock.json").write_text('{"version": 1, "files": [], "images": []}\n')
    (root / "bundle.lock.json.sig").write_text("-----BEGIN SSH SIGNATURE-----\n")
    binary = root / "files/k3s/v1.36.4+k3s1/k3s"
    binary.write_bytes(os.urandom(PART * 2 + 12345))  # spans three parts
    binary.chmod(0o755)
    (root / "images/blobs/sha256" / ("a" * 64)).write_bytes(b"blob")
    (root / "images/index.json").write_text('{"schemaVersion": 2, "manifests": []}')
    return root


def tree(root):
    return {
        str(path.relative_to(root)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mode & 0o777)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_split_and_join_give_back_the_same_bundle(bundle, tmp_path):
    changed, manifest = split(str(bundle), str(tmp_path / "usb"), PART)
    assert changed
    names = [part["name"] for part in manifest["parts"]]
    assert names == ["bundle.tar.part-0001", "bundle.tar.part-0002", "bundle.tar.part-0003"]
    for part in manifest["parts"]:
        data = (tmp_path / "usb" / part["name"]).read_bytes()
        assert len(data) == part["size"] <= PART
        assert hashlib.sha256(data).hexdigest() == part["sha256"]
    assert json.loads((tmp_path / "usb" / MANIFEST).read_text()) == manifest
    assert join(str(tmp_path / "usb"), str(tmp_path / "joined"))[0] is True
    joined = tree(tmp_path / "joined")
    assert joined.pop(".joined-parts.json")
    assert joined == tree(bundle)
    # Reruns change nothing; the joined folder splits into the very same parts.
    assert split(str(bundle), str(tmp_path / "usb"), PART) == (False, manifest)
    assert join(str(tmp_path / "usb"), str(tmp_path / "joined")) == (False, manifest)
    assert split(str(tmp_path / "joined"), str(tmp_path / "again"), PART) == (True, manifest)
    assert (tmp_path / "joined/files/k3s/v1.36.4+k3s1/k3s").stat().st_mode & 0o777 == 0o755


def test_the_same_folder_gives_the_same_parts(bundle, tmp_path):
    first = split(str(bundle), str(tmp_path / "one"), PART)
    second = split(str(bundle), str(tmp_path / "two"), PART)
    planned = split(str(bundle), str(tmp_path / "three"), PART, check_only=True)
    assert first == second == planned
    assert not (tmp_path / "three").exists()


def test_a_missing_part_names_itself_and_nothing_is_written(bundle, tmp_path):
    split(str(bundle), str(tmp_path / "usb"), PART)
    (tmp_path / "usb/bundle.tar.part-0002").unlink()
    with pytest.raises(
        BundlePartsError, match=r"part 2 of 3 \(bundle.tar.part-0002\) is missing: copy it from the medium"
    ):
        join(str(tmp_path / "usb"), str(tmp_path / "joined"))
    assert not (tmp_path / "joined").exists()


def test_a_corrupt_or_truncated_part_names_itself(bundle, tmp_path):
    split(str(bundle), str(tmp_path / "usb"), PART)
    third = tmp_path / "usb/bundle.tar.part-0003"
    data = bytearray(third.read_bytes())
    data[100] ^= 0xFF
    third.write_bytes(bytes(data))
    first = tmp_path / "usb/bundle.tar.part-0001"
    first.write_bytes(first.read_bytes()[:-1])
    with pytest.raises(BundlePartsError) as caught:
        join(str(tmp_path / "usb"), str(tmp_path / "joined"))
    message = str(caught.value)
    assert f"part 1 of 3 (bundle.tar.part-0001) has {PART - 1} bytes, the manifest says {PART}" in message
    assert "part 3 of 3 (bundle.tar.part-0003) is corrupt (sha256 differs from the manifest)" in message
    assert "part-0002" not in message


def test_a_missing_manifest_says_what_it_is(bundle, tmp_path):
    split(str(bundle), str(tmp_path / "usb"), PART)
    (tmp_path / "usb" / MANIFEST).unlink()
    with pytest.raises(BundlePartsError, match=r"bundle\.parts\.json is missing: copy it from the medium"):
        join(str(tmp_path / "usb"), str(tmp_path / "joined"))


def test_join_refuses_a_folder_that_is_not_empty(bundle, tmp_path):
    split(str(bundle), str(tmp_path / "usb"), PART)
    (tmp_path / "joined").mkdir()
    (tmp_path / "joined/old").write_text("x")
    with pytest.raises(BundlePartsError, match="is not empty"):
        join(str(tmp_path / "usb"), str(tmp_path / "joined"))


def test_split_refuses_bad_input(bundle, tmp_path):
    with pytest.raises(BundlePartsError, match="at least 1048576 bytes"):
        split(str(bundle), str(tmp_path / "usb"), 1000)
    with pytest.raises(BundlePartsError, match=r"holds no bundle\.lock\.json"):
        split(str(tmp_path), str(tmp_path / "usb"), PART)
    with pytest.raises(BundlePartsError, match="is inside the bundle"):
        split(str(bundle), str(bundle / "parts"), PART)
    split(str(bundle), str(tmp_path / "usb"), PART)
    (bundle / "bundle.lock.json").write_text('{"version": 1, "files": [], "images": [], "changed": 1}\n')
    with pytest.raises(BundlePartsError, match=r"already holds parts .* of another bundle or part size"):
        split(str(bundle), str(tmp_path / "usb"), PART)


def craft_parts(directory, members):
    """Parts and a consistent manifest around a hand-made archive (as an attacker or a bug would make it)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    data = buffer.getvalue()
    directory.mkdir()
    (directory / "bundle.tar.part-0001").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    manifest = {
        "version": 1,
        "format": "tar",
        "part_size": len(data),
        "size": len(data),
        "sha256": digest,
        "parts": [{"name": "bundle.tar.part-0001", "size": len(data), "sha256": digest}],
    }
    (directory / MANIFEST).write_text(json.dumps(manifest))


def member(name, data=b"", kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ([member("bundle.lock.json", b"{}"), member("../escape", b"x")], "a path outside the bundle"),
        ([member("/etc/evil", b"x")], "a path outside the bundle"),
        (
            [member("bundle.lock.json", b"{}"), member("link", kind=tarfile.SYMTYPE, linkname="/etc/passwd")],
            "not a regular file",
        ),
        ([member("files/k3s", b"x")], "hold no bundle.lock.json"),
    ],
    ids=["dotdot", "absolute", "symlink", "no-lock"],
)
def test_join_refuses_an_archive_that_is_not_a_plain_bundle(tmp_path, members, says):
    craft_parts(tmp_path / "usb", members)
    with pytest.raises(BundlePartsError, match=says):
        join(str(tmp_path / "usb"), str(tmp_path / "joined"))
    assert not (tmp_path / "escape").exists()
    assert not (tmp_path / "joined").exists()
    assert not (tmp_path / "joined.joining").exists()
