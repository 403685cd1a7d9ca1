# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Image archives read in place: oci-archive and docker-archive tarballs.

- oci-archive: a tar of an OCI image layout (``skopeo copy ... oci-archive:``,
  ``podman save --format oci-archive``).
- docker-archive: ``docker save`` / ``podman save`` / ``skopeo copy ... docker-archive:``:
  ``manifest.json`` lists each image's config, RepoTags and layer files.

Nothing is unpacked: the tar headers are indexed once and every blob is read
straight from its offset in the (uncompressed) tarball. Compressed tarballs
cannot be read in place; the error says to decompress them.

A docker-archive carries no registry manifest, so one is synthesised
(OCI image manifest, deterministic JSON: the same archive always yields the same
digest). Layer digests come from the file name when it is a digest
(``blobs/sha256/<hex>``, Docker >= 25) or from the config's ``rootfs.diff_ids``
(uncompressed layers); both are verified while streaming.

Stdlib only.
"""

from __future__ import annotations

import json
import os
import re
import tarfile

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    MT_OCI_CONFIG,
    MT_OCI_LAYER_GZIP,
    MT_OCI_LAYER_TAR,
    MT_OCI_LAYER_ZSTD,
    MT_OCI_MANIFEST,
    READ_SIZE,
    ContentError,
    check_digest,
    sha256_digest,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import (
    MAX_METADATA_SIZE,
    BundleSource,
    ImageEntry,
    OciLayout,
    _index_entries,
)

_BLOB_NAME = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")


class _Section:
    """A bounded reader over a region of a file."""

    def __init__(self, path: str, offset: int, size: int):
        self._handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        self._handle.seek(offset)
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if n is None or n < 0 or n > self._left:
            n = self._left
        data = self._handle.read(n)
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._handle.close()


class TarIndex:
    """Member name -> (data offset, size) of an uncompressed tarball."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.members: dict[str, tuple[int, int]] = {}
        with open(self.path, "rb") as handle:
            magic = handle.read(6)
        if (
            magic[:2] == b"\x1f\x8b"
            or magic[:4] == b"\x28\xb5\x2f\xfd"
            or magic[:3] == b"BZh"
            or magic[:6] == b"\xfd7zXZ\x00"
        ):
            raise ContentError(
                f"archive {self.path} is compressed; images are read in place from uncompressed tarballs: decompress it first (e.g. gunzip / zstd -d)"
            )
        file_size = os.path.getsize(self.path)
        try:
            with tarfile.open(self.path, "r:") as tar:
                for info in tar:
                    name = info.name
                    while name.startswith("./"):
                        name = name[2:]
                    if info.isfile():
                        if info.offset_data + info.size > file_size:
                            raise ContentError(
                                f"archive {self.path} is truncated: member {name} needs {info.size} bytes past the end of the file; re-create the archive"
                            )
                        self.members[name] = (info.offset_data, info.size)
                    elif info.issym() or info.islnk():
                        target = (
                            info.linkname
                            if info.islnk()
                            else os.path.normpath(os.path.join(os.path.dirname(name), info.linkname))
                        )
                        while target.startswith("./"):
                            target = target[2:]
                        if target in self.members:
                            self.members[name] = self.members[target]
        except tarfile.TarError as exc:
            raise ContentError(
                f"archive {self.path} is not a readable tarball or is truncated ({exc}); re-create the archive"
            ) from exc
        if not self.members:
            raise ContentError(f"archive {self.path} is empty or not a tarball")

    def size(self, name: str) -> int | None:
        member = self.members.get(name)
        return member[1] if member else None

    def open(self, name: str) -> _Section:
        offset, size = self.members[name]
        return _Section(self.path, offset, size)

    def read(self, name: str, limit: int = MAX_METADATA_SIZE) -> bytes:
        size = self.size(name)
        if size is None:
            raise ContentError(f"archive {self.path} has no {name}")
        if size > limit:
            raise ContentError(f"archive {self.path}: {name} is too large ({size} bytes)")
        handle = self.open(name)
        try:
            return handle.read(size)
        finally:
            handle.close()


class OciArchive(BundleSource):
    """An oci-archive tarball."""

    format = "oci-archive"

    def __init__(self, path: str, tar: TarIndex | None = None):
        self.tar = tar or TarIndex(path)
        self.location = f"oci-archive {self.tar.path}"
        if "oci-layout" not in self.tar.members or "index.json" not in self.tar.members:
            raise ContentError(f"{self.location}: no oci-layout/index.json; this is not an oci-archive")

    def entries(self) -> list[ImageEntry]:
        try:
            index = json.loads(self.tar.read("index.json"))
        except ValueError as exc:
            raise ContentError(f"{self.location}: index.json is not valid JSON ({exc})") from exc
        return _index_entries(index, self.location)

    def _member(self, digest: str) -> str:
        check_digest(digest, self.location)
        return "blobs/sha256/" + digest.split(":", 1)[1]

    def blob_size(self, digest: str) -> int | None:
        return self.tar.size(self._member(digest))

    def open_blob(self, digest: str):
        return self.tar.open(self._member(digest))


def _layer_media_type(head: bytes) -> str:
    if head[:2] == b"\x1f\x8b":
        return MT_OCI_LAYER_GZIP
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return MT_OCI_LAYER_ZSTD
    return MT_OCI_LAYER_TAR


class DockerArchive(BundleSource):
    """A docker-archive tarball (docker save / podman save)."""

    format = "docker-archive"

    def __init__(self, path: str, tar: TarIndex | None = None):
        self.tar = tar or TarIndex(path)
        self.location = f"docker-archive {self.tar.path}"
        if "manifest.json" not in self.tar.members:
            raise ContentError(f"{self.location}: no manifest.json; this is not a docker-archive")
        try:
            items = json.loads(self.tar.read("manifest.json"))
        except ValueError as exc:
            raise ContentError(f"{self.location}: manifest.json is not valid JSON ({exc})") from exc
        if not isinstance(items, list):
            raise ContentError(f"{self.location}: manifest.json is not a list")
        self._blobs: dict[str, str] = {}  # digest -> member
        self._manifests: dict[str, bytes] = {}  # digest -> synthesised manifest
        self._entries: list[ImageEntry] = []
        for item in items:
            self._add(item)

    def _add(self, item) -> None:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("Config"), str)
            or not isinstance(item.get("Layers"), list)
        ):
            raise ContentError(f"{self.location}: invalid manifest.json entry {item!r}")
        config_name = item["Config"]
        config_bytes = self.tar.read(config_name)
        config_digest = sha256_digest(config_bytes)
        try:
            config = json.loads(config_bytes)
        except ValueError as exc:
            raise ContentError(f"{self.location}: config {config_name} is not valid JSON ({exc})") from exc
        diff_ids = ((config.get("rootfs") or {}).get("diff_ids")) or []
        if len(diff_ids) != len(item["Layers"]):
            raise ContentError(
                f"{self.location}: config {config_name} lists {len(diff_ids)} diff_ids but the image has {len(item['Layers'])} layers"
            )
        self._blobs[config_digest] = config_name
        layers = []
        for layer_name, diff_id in zip(item["Layers"], diff_ids, strict=True):
            size = self.tar.size(layer_name)
            if size is None:
                raise ContentError(
                    f"{self.location}: layer {layer_name} listed in manifest.json is missing; re-create the archive"
                )
            match = _BLOB_NAME.match(layer_name)
            handle = self.tar.open(layer_name)
            try:
                head = handle.read(6)
            finally:
                handle.close()
            media_type = _layer_media_type(head)
            if match:
                digest = "sha256:" + match.group(1)
            elif media_type == MT_OCI_LAYER_TAR:
                digest = check_digest(diff_id, f"{self.location} config {config_name}")
            else:
                raise ContentError(
                    f"{self.location}: compressed layer {layer_name} is not named by its digest; re-create the archive with a current docker/podman/skopeo"
                )
            self._blobs[digest] = layer_name
            layers.append({"mediaType": media_type, "digest": digest, "size": size})
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_OCI_MANIFEST,
            "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": layers,
        }
        data = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        digest = sha256_digest(data)
        self._manifests[digest] = data
        for tag in item.get("RepoTags") or []:
            try:
                name = str(parse_image(tag))
            except ImageRefError as exc:
                raise ContentError(f"{self.location}: RepoTag {tag!r} is not a valid image reference: {exc}") from exc
            self._entries.append(ImageEntry(name, {"mediaType": MT_OCI_MANIFEST, "digest": digest, "size": len(data)}))
        if not item.get("RepoTags"):
            raise ContentError(
                f"{self.location}: image with config {config_name} has no RepoTags, so it has no name; save it by name (docker save IMAGE:TAG)"
            )

    def entries(self) -> list[ImageEntry]:
        return list(self._entries)

    def blob_size(self, digest: str) -> int | None:
        if digest in self._manifests:
            return len(self._manifests[digest])
        member = self._blobs.get(digest)
        return self.tar.size(member) if member else None

    def open_blob(self, digest: str):
        if digest in self._manifests:
            return _BytesReader(self._manifests[digest])
        return self.tar.open(self._blobs[digest])


class _BytesReader:
    def __init__(self, data: bytes):
        self._data = data
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self._data) - self._pos
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    def close(self) -> None:
        pass


def open_source(path: str) -> BundleSource:
    """Open an OCI layout directory, an oci-archive or a docker-archive."""
    if os.path.isdir(path):
        return OciLayout(path)
    if not os.path.exists(path):
        raise ContentError(f"bundle source {path} does not exist; build the bundle with playbooks/bundle.yml")
    tar = TarIndex(path)
    if "oci-layout" in tar.members and "index.json" in tar.members:
        return OciArchive(path, tar)
    if "manifest.json" in tar.members:
        return DockerArchive(path, tar)
    raise ContentError(
        f"{path} is neither an oci-archive (oci-layout + index.json) nor a docker-archive (manifest.json)"
    )


__all__ = ["READ_SIZE", "DockerArchive", "OciArchive", "TarIndex", "open_source"]
