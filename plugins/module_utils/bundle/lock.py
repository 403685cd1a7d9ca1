# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The bundle lock file: every artefact of the bundle with its digest.

JSON, sorted, without timestamps, so an unchanged bundle writes byte-identical
content (idempotent) and diffs stay readable::

    {
      "version": 1,
      "images": [
        {"name": "docker.io/library/nginx:1.27", "source": "docker.io/library/nginx:1.27",
         "digest": "sha256:...", "media_type": "application/vnd.oci.image.index.v1+json",
         "platforms": ["linux/amd64", "linux/arm64"],
         "manifests": [{"digest": "sha256:...", "size": 1234, "media_type": "..."}],
         "blobs": [{"digest": "sha256:...", "size": 5678}]}
      ],
      "files": [
        {"name": "k3s", "url": "https://github.com/.../k3s", "sha256": "...", "size": 71303168}
      ],
      "wheels": [
        {"name": "fastapi", "version": "0.165.0", "filename": "fastapi-0.165.0-py3-none-any.whl",
         "sha256": "...", "target": "cp313-manylinux_2_41_x86_64"}
      ]
    }

``manifests`` (every manifest and index of the image, children first, the top one last) and
``blobs`` (configs and layers of every platform, by digest) let a later bundle tell which
content is new (differential bundles); locks written before they existed lack them.

A **differential** (delta) lock is complete too (it describes the whole target state) and
adds, in this one format::

    "base": {"name": "bundle.lock.json", "path": "/srv/bundle-v1/bundle.lock.json", "sha256": "<64 hex>"}

(the base lock's own sha256), and on every file, image and image blob ``"carried": true``
(in this bundle) or ``false`` (expected from the base: the base bundle's folder for files,
the registry for images). A blob of a carried image that is not carried names
``"base_image"``, an image of the base that holds it (the registry repository to find it in).

Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write

LOCK_VERSION = 1
_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


class BundleLockError(ValueError):
    """An unreadable or invalid lock file or entry."""


def _check_content(entry, path: str) -> None:
    """The optional content lists and delta marks of an image entry."""
    for key in ("manifests", "blobs"):
        items = entry.get(key, [])
        if not isinstance(items, list):
            raise BundleLockError(f"{path}: image {entry['name']}: {key!r} must be a list")
        for item in items:
            if (
                not isinstance(item, dict)
                or not _DIGEST.match(str(item.get("digest", "")))
                or not isinstance(item.get("size"), int)
                or isinstance(item.get("size"), bool)
                or not isinstance(item.get("carried", False), bool)
            ):
                raise BundleLockError(
                    f"{path}: image {entry['name']}: invalid {key} entry {item!r}: needs digest sha256:<64 hex> and size"
                )


def _check_carried(entry, path: str) -> None:
    if "carried" in entry and not isinstance(entry["carried"], bool):
        raise BundleLockError(f"{path}: entry {entry.get('name')!r}: 'carried' must be true or false")


def empty_lock() -> dict:
    return {"version": LOCK_VERSION, "images": [], "files": [], "wheels": []}


def validate_lock(data, path: str = "lock file") -> dict:
    if not isinstance(data, dict):
        raise BundleLockError(f"{path}: expected a JSON object at the top level")
    if data.get("version") != LOCK_VERSION:
        raise BundleLockError(
            f"{path}: unsupported lock version {data.get('version')!r} (this collection writes version {LOCK_VERSION})"
        )
    for key in ("images", "files", "wheels"):
        if not isinstance(data.get(key, []), list):
            raise BundleLockError(f"{path}: {key!r} must be a list")
    for entry in data.get("images", []):
        if not isinstance(entry, dict) or not entry.get("name") or not _DIGEST.match(str(entry.get("digest", ""))):
            raise BundleLockError(f"{path}: invalid image entry {entry!r}: needs name and digest sha256:<64 hex>")
        _check_content(entry, path)
        _check_carried(entry, path)
    for entry in data.get("files", []):
        if not isinstance(entry, dict) or not entry.get("name") or not _HEX64.match(str(entry.get("sha256", ""))):
            raise BundleLockError(f"{path}: invalid file entry {entry!r}: needs name and sha256 (64 hex)")
        _check_carried(entry, path)
    for entry in data.get("wheels", []):
        if (
            not isinstance(entry, dict)
            or not all(entry.get(k) for k in ("name", "version", "filename"))
            or not _HEX64.match(str(entry.get("sha256", "")))
        ):
            raise BundleLockError(
                f"{path}: invalid wheel entry {entry!r}: needs name, version, filename and sha256 (64 hex)"
            )
    base = data.get("base")
    if base is not None and (
        not isinstance(base, dict) or not base.get("name") or not _HEX64.match(str(base.get("sha256", "")))
    ):
        raise BundleLockError(f"{path}: invalid 'base' {base!r}: needs the base lock's name and sha256 (64 hex)")
    data.setdefault("images", [])
    data.setdefault("files", [])
    data.setdefault("wheels", [])
    return data


def load_lock(path: str, missing_ok: bool = True) -> dict:
    """Read a lock file; a missing file gives an empty lock when ``missing_ok``."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        if missing_ok:
            return empty_lock()
        raise BundleLockError(f"lock file {path} does not exist; build the bundle with playbooks/bundle.yml") from None
    except json.JSONDecodeError as exc:
        raise BundleLockError(f"lock file {path} is not valid JSON ({exc}); delete it and rebuild the bundle") from exc
    return validate_lock(data, path)


def dump_lock(data: dict) -> str:
    data = validate_lock(dict(data))
    out = {
        "version": LOCK_VERSION,
        "images": sorted(data["images"], key=lambda e: e["name"]),
        "files": sorted(data["files"], key=lambda e: e["name"]),
        "wheels": sorted(data["wheels"], key=lambda e: e["name"]),
    }
    if data.get("base"):
        out["base"] = data["base"]
    return json.dumps(out, indent=2, sort_keys=True) + "\n"


def write_lock(path: str, data: dict) -> bool:
    """Write atomically; return True when the content changed."""
    text = dump_lock(data)
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except FileNotFoundError:
        pass
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))
    return True


def _upsert(entries: list, entry: dict) -> None:
    for i, existing in enumerate(entries):
        if existing.get("name") == entry["name"]:
            entries[i] = entry
            return
    entries.append(entry)


def set_image(
    data: dict,
    name: str,
    digest: str,
    *,
    source: str | None = None,
    media_type: str | None = None,
    platforms=None,
    manifests=None,
    blobs=None,
    upstream_digest: str | None = None,
) -> dict:
    """``manifests``: [(digest, size, media_type)] children first, top last; ``blobs``: {digest: size};
    ``upstream_digest``: the registry's index digest when the bundle holds a reduced index (module_utils/oci/image_platforms.py)."""
    if not _DIGEST.match(str(digest)):
        raise BundleLockError(f"image {name}: invalid digest {digest!r}")
    entry = {"name": name, "source": source or name, "digest": digest}
    if media_type:
        entry["media_type"] = media_type
    if upstream_digest and upstream_digest != digest:
        entry["upstream_digest"] = upstream_digest
    entry["platforms"] = sorted(platforms or [])
    if manifests is not None:
        entry["manifests"] = [{"digest": d, "size": s, "media_type": m} for d, s, m in manifests]
    if blobs is not None:
        entry["blobs"] = [{"digest": d, "size": blobs[d]} for d in sorted(blobs)]
    _upsert(data.setdefault("images", []), entry)
    return entry


def set_file(
    data: dict, name: str, sha256: str, *, url: str | None = None, path: str | None = None, size: int | None = None
) -> dict:
    value = str(sha256).removeprefix("sha256:")
    if not _HEX64.match(value):
        raise BundleLockError(f"file {name}: invalid sha256 {sha256!r}")
    entry = {"name": name, "sha256": value}
    if url:
        entry["url"] = url
    if path:
        entry["path"] = path
    if size is not None:
        entry["size"] = size
    _upsert(data.setdefault("files", []), entry)
    return entry


def set_wheels(data: dict, entries: list) -> None:
    """Replace the ``wheels`` section (one entry per package: name, version, filename, sha256, target)."""
    checked = validate_lock({"version": LOCK_VERSION, "wheels": list(entries)}, "wheel entries")
    data["wheels"] = checked["wheels"]


def retain(data: dict, section: str, names) -> list:
    """Remove from ``section`` (``images``, ``files`` or ``wheels``) every entry whose name is not in
    ``names``: a bundle run leaves the lock describing exactly what it was asked for (after an
    upgrade the old image, file or wheel is gone, so preload no longer pushes it and a registry
    prune removes it). Returns the removed entries, sorted by name."""
    if section not in ("images", "files", "wheels"):
        raise BundleLockError(f"unknown lock section {section!r}")
    wanted = set(names)
    entries = data.setdefault(section, [])
    removed = [entry for entry in entries if entry.get("name") not in wanted]
    data[section] = [entry for entry in entries if entry.get("name") in wanted]
    return sorted(removed, key=lambda e: e.get("name") or "")


def get_image(data: dict, name: str) -> dict | None:
    return next((e for e in data.get("images", []) if e.get("name") == name), None)


def get_file(data: dict, name: str) -> dict | None:
    return next((e for e in data.get("files", []) if e.get("name") == name), None)


# -- differential bundles --------------------------------------------------------------


def lock_sha256(path: str) -> str:
    """The sha256 of a lock file's bytes: what a delta lock's ``base`` records."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def base_of(data: dict) -> dict | None:
    """The ``base`` of a delta lock ({name, path, sha256}), or None for a complete bundle."""
    return data.get("base") or None


def is_carried(entry: dict) -> bool:
    """Is a file, image or blob entry in this bundle? Always true outside a delta lock."""
    return entry.get("carried", True) is not False


def has_content(entry: dict) -> bool:
    """Does an image entry list its manifests and blobs (locks before differential bundles do not)?"""
    return "manifests" in entry and "blobs" in entry


def image_size(entry: dict) -> int | None:
    """Bytes of an image's manifests and blobs (None when the lock does not list them)."""
    if not has_content(entry):
        return None
    return sum(m["size"] for m in entry["manifests"]) + sum(b["size"] for b in entry["blobs"])
