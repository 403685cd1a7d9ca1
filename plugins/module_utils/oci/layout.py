# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""OCI image layout directories: the bundle's own format.

``<dir>/oci-layout``, ``<dir>/index.json`` and ``<dir>/blobs/sha256/<hex>``.
Each image is an ``index.json`` entry annotated with its full reference
(``org.opencontainers.image.ref.name`` and ``io.containerd.image.name``, e.g.
``quay.io/keycloak/keycloak:26.7.4``), so one layout holds every image of the
platform and blobs shared between images are stored once.

Blobs are written through a temporary file, hashed while streaming, and renamed
into place only when the sha256 matches: a layout never holds a corrupt blob
from an interrupted or bad download.

Stdlib only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import threading

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    ANNOTATION_CONTAINERD_NAME,
    ANNOTATION_REF_NAME,
    READ_SIZE,
    ContentError,
    VerifyingReader,
    check_digest,
    verify_bytes,
)

OCI_LAYOUT_VERSION = "1.0.0"
# Manifests and configs are read whole; anything bigger is not a manifest.
MAX_METADATA_SIZE = 32 << 20
_BLOB_NAME = re.compile(r"^[a-f0-9]{64}$")


class ImageEntry:
    """An image of a bundle: its name and the descriptor of its manifest or index."""

    def __init__(self, name: str, descriptor: dict):
        self.name = name
        self.descriptor = descriptor

    @property
    def digest(self) -> str:
        return self.descriptor["digest"]

    @property
    def media_type(self) -> str | None:
        return self.descriptor.get("mediaType")

    def __repr__(self) -> str:
        return f"ImageEntry({self.name!r}, {self.digest})"


def entry_name(desc: dict, location: str) -> str | None:
    """The full image name of an index.json entry (None when it has none)."""
    annotations = desc.get("annotations") or {}
    for key in (ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME):
        name = annotations.get(key)
        if not name:
            continue
        # skopeo's oci:dir:tag stores only a tag (no repository): not a usable name.
        if key == ANNOTATION_REF_NAME and "/" not in name and ":" not in name and "@" not in name:
            continue
        try:
            return str(parse_image(name))
        except ImageRefError as exc:
            raise ContentError(
                f"{location}: image name {name!r} in index.json is not a valid reference: {exc}"
            ) from exc
    return None


class BundleSource:
    """Read access shared by layouts and archives."""

    location = "bundle"
    format = "unknown"

    def entries(self) -> list[ImageEntry]:
        raise NotImplementedError

    def blob_size(self, digest: str) -> int | None:
        raise NotImplementedError

    def open_blob(self, digest: str):
        """A raw file-like object positioned at the blob (caller verifies)."""
        raise NotImplementedError

    def has_blob(self, digest: str) -> bool:
        return self.blob_size(digest) is not None

    def read_blob(self, digest: str, where: str) -> bytes:
        """A small blob (manifest, config), verified."""
        check_digest(digest, where)
        size = self.blob_size(digest)
        if size is None:
            raise ContentError(
                f"{where}: blob {digest} is missing from {self.location}; the bundle is incomplete, rebuild it with playbooks/bundle.yml"
            )
        if size > MAX_METADATA_SIZE:
            raise ContentError(f"{where}: blob {digest} is {size} bytes, too large for a manifest or config")
        handle = self.open_blob(digest)
        try:
            data = handle.read(size)
        finally:
            handle.close()
        if len(data) != size:
            raise ContentError(
                f"{where}: blob {digest} in {self.location} is truncated ({len(data)} of {size} bytes); rebuild the bundle"
            )
        return verify_bytes(data, digest, f"{where} (blob in {self.location})")

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _index_entries(index: dict, location: str, index_file: str | None = None) -> list[ImageEntry]:
    """The named entries of an index.json; ``index_file`` is where a user edits it (None inside an archive)."""
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ContentError(f"{location}: index.json has no 'manifests' list; this is not an OCI image layout")
    out = []
    for desc in index["manifests"]:
        if not isinstance(desc, dict):
            raise ContentError(f"{location}: invalid entry in index.json: {desc!r}")
        check_digest(desc.get("digest"), f"{location} index.json")
        name = entry_name(desc, location)
        if name is None:
            raise ContentError(_unnamed_entry(desc, location, index_file))
        out.append(ImageEntry(name, desc))
    return out


def _unnamed_entry(desc: dict, location: str, index_file: str | None) -> str:
    """What an index.json entry without a full image name lacks, and the two ways to name it."""
    tag = (desc.get("annotations") or {}).get(ANNOTATION_REF_NAME)
    lacks = f"{ANNOTATION_REF_NAME} holds only the tag {tag!r}" if tag else f"no {ANNOTATION_REF_NAME} annotation"
    example = "docker.io/library/nginx:1.27"
    annotate = f'"annotations": {{"{ANNOTATION_REF_NAME}": "{example}"}}'
    if index_file:
        edit = (
            f"add {annotate} to that entry of {index_file}, with the image's full reference (registry/repository:tag)"
        )
    else:
        edit = f"write the archive again with {annotate} in that entry of its index.json"
    return (
        f"{location}: index.json entry {desc.get('digest')} has no image name ({lacks}). Name it: {edit}; "
        f"or copy the image again with a full reference: skopeo copy docker://nginx:1.27 oci:DIR:{example} "
        f"(oci-archive:FILE:{example} for an archive)"
    )


class OciLayout(BundleSource):
    """An OCI image layout directory (read and write)."""

    format = "oci"

    def __init__(self, path: str, create: bool = False):
        self.path = os.path.abspath(path)
        self.location = f"OCI layout {self.path}"
        self._lock = threading.Lock()
        layout_file = os.path.join(self.path, "oci-layout")
        if not os.path.isfile(layout_file):
            if not create:
                raise ContentError(
                    f"{self.path} is not an OCI image layout (no oci-layout file); build the bundle with playbooks/bundle.yml"
                )
            os.makedirs(os.path.join(self.path, "blobs", "sha256"), exist_ok=True)
            self._atomic_write(layout_file, json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}).encode())
            if not os.path.exists(self._index_path):
                self._write_index({"schemaVersion": 2, "manifests": []})
        os.makedirs(os.path.join(self.path, "blobs", "sha256"), exist_ok=True)

    @property
    def _index_path(self) -> str:
        return os.path.join(self.path, "index.json")

    def _read_index(self) -> dict:
        try:
            with open(self._index_path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}
        except ValueError as exc:
            raise ContentError(f"{self.location}: index.json is not valid JSON ({exc})") from exc

    def _write_index(self, index: dict) -> None:
        self._atomic_write(self._index_path, (json.dumps(index, indent=2, sort_keys=True) + "\n").encode())

    def _atomic_write(self, path: str, data: bytes) -> None:
        atomic_write(path, data)

    def entries(self) -> list[ImageEntry]:
        return _index_entries(self._read_index(), self.location, os.path.join(self.path, "index.json"))

    def blob_path(self, digest: str) -> str:
        check_digest(digest, self.location)
        return os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1])

    def blob_size(self, digest: str) -> int | None:
        try:
            return os.stat(self.blob_path(digest)).st_size
        except FileNotFoundError:
            return None

    def open_blob(self, digest: str):
        return open(self.blob_path(digest), "rb", buffering=READ_SIZE)

    def write_blob(self, digest: str, raw, size: int, where: str) -> int:
        """Stream ``raw`` into the layout, verifying size and digest; return bytes written."""
        final = self.blob_path(digest)
        reader = VerifyingReader(raw, digest, size, where)
        fd, tmp = tempfile.mkstemp(prefix=".partial-", dir=os.path.dirname(final))
        try:
            with os.fdopen(fd, "wb") as handle:
                while True:
                    chunk = reader.read(READ_SIZE)
                    if not chunk:
                        break
                    handle.write(chunk)
            reader.read(0)  # verifies a zero-size blob too
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return reader.count

    def write_bytes(self, digest: str, data: bytes, where: str) -> None:
        verify_bytes(data, digest, where)
        if self.blob_size(digest) != len(data):
            self._atomic_write(self.blob_path(digest), data)

    def set_image(self, name: str, descriptor: dict) -> bool:
        """Point ``name`` at ``descriptor`` in index.json; return True when it changed."""
        desc = {k: descriptor[k] for k in ("mediaType", "digest", "size") if k in descriptor}
        desc["annotations"] = {ANNOTATION_REF_NAME: name, ANNOTATION_CONTAINERD_NAME: name}
        with self._lock:
            index = self._read_index()
            manifests = index.setdefault("manifests", [])
            for i, existing in enumerate(manifests):
                if entry_name(existing, self.location) == name:
                    if existing == desc:
                        return False
                    manifests[i] = desc
                    break
            else:
                manifests.append(desc)
            manifests.sort(key=lambda d: d["annotations"][ANNOTATION_REF_NAME] if "annotations" in d else "")
            index["schemaVersion"] = 2
            self._write_index(index)
        return True

    # -- retention: the layout holds exactly the images asked for ---------------------------

    def referenced(self, entries) -> set:
        """Every digest the image entries reference: their manifests and indexes (children of a
        multi-platform index, attestation manifests, a subject), configs and layers.

        Content descriptors of any OCI or Docker manifest or index are followed (``manifests``,
        ``config``, ``layers``, ``blobs``, ``subject``); a child manifest the layout does not hold
        (an index stored without some platforms) has nothing more to follow. A manifest that is
        present but unreadable raises ContentError: what it references cannot be known.
        """
        found: set = set()
        todo = [(entry.digest, f"image {entry.name}") for entry in entries]
        while todo:
            digest, where = todo.pop()
            if digest in found:
                continue
            found.add(digest)
            size = self.blob_size(digest)
            if size is None:
                continue
            try:
                obj = json.loads(self.read_blob(digest, where))
            except ValueError as exc:
                raise ContentError(f"{where}: manifest {digest} in {self.location} is not JSON ({exc})") from exc
            if not isinstance(obj, dict):
                raise ContentError(f"{where}: manifest {digest} in {self.location} is not a JSON object")
            children = obj.get("manifests") or []
            leaves = [obj.get("config"), obj.get("subject"), *(obj.get("layers") or []), *(obj.get("blobs") or [])]
            for follow, descs in ((True, children), (False, leaves)):
                for desc in descs:
                    if not isinstance(desc, dict) or desc.get("digest") is None:
                        continue
                    child = check_digest(desc["digest"], f"{where} (manifest {digest})")
                    if follow:
                        todo.append((child, where))
                    else:
                        found.add(child)
        return found

    def retain(self, names, check_mode: bool = False) -> dict:
        """Keep only the images named in ``names`` (full references, as ``entries()`` gives them).

        The other index.json entries are removed, then every blob no remaining entry references
        (``referenced``): the removed images' own content, a re-pointed tag's old manifest, what an
        interrupted run left. A blob a remaining image shares is never removed. What is removed
        is computed before anything is written; index.json is written first, so an interruption
        leaves only unreferenced blobs, which the next run removes. In check mode nothing is written.

        Returns ``{"images": [{"name", "digest"}], "blobs": {digest: size}}`` (what is, or would be, removed).
        """
        wanted = {str(parse_image(name)) for name in names}
        with self._lock:
            index = self._read_index()
            entries = _index_entries(index, self.location, self._index_path)
            kept = [entry for entry in entries if entry.name in wanted]
            dropped = [entry for entry in entries if entry.name not in wanted]
            keep = self.referenced(kept)
            folder = os.path.join(self.path, "blobs", "sha256")
            unreferenced = {}
            for hexdigest in sorted(os.listdir(folder)):
                digest = f"sha256:{hexdigest}"
                if _BLOB_NAME.match(hexdigest) and digest not in keep:
                    unreferenced[digest] = os.lstat(os.path.join(folder, hexdigest)).st_size
            if not check_mode:
                if dropped:
                    gone = {id(entry.descriptor) for entry in dropped}
                    index["manifests"] = [desc for desc in index["manifests"] if id(desc) not in gone]
                    self._write_index(index)
                for digest in unreferenced:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.blob_path(digest))
        return {
            "images": sorted(({"name": e.name, "digest": e.digest} for e in dropped), key=lambda i: i["name"]),
            "blobs": unreferenced,
        }
