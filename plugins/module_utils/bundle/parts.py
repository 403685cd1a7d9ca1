# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Split a bundle folder into parts of a chosen size for removable media, and join them again.

The bundle folder is written as one uncompressed tar stream (entries sorted, owners dropped,
so the same folder gives the same parts), cut into ``bundle.tar.part-0001``, ``-0002`` ...
of at most ``part_size`` bytes each, and described by ``bundle.parts.json``::

    {"version": 1, "format": "tar", "part_size": 4294967296, "size": ..., "sha256": "<whole stream>",
     "parts": [{"name": "bundle.tar.part-0001", "size": ..., "sha256": "..."}, ...]}

Joining checks every part (present, size, sha256) before anything is extracted and names each
missing or corrupt one, then streams the parts through tarfile, extracting with the rules of
tarfile's "data" filter written out here (Python 3.11.2, Debian 12's, lacks the filter): only
folders and regular files, no absolute path, no "..", no group or other write bit, times
kept (so a joined bundle splits into the same parts again); and checks
the whole stream's sha256. The parts and the manifest protect against a lost or damaged
medium; whether the bundle is authentic is the signed lock's job (signature.py),
checked by the validation play after joining.

Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile

MANIFEST = "bundle.parts.json"
PART_PREFIX = "bundle.tar.part-"
FORMAT_VERSION = 1
MIN_PART_SIZE = 1024 * 1024
_BUFFER = 4 * 1024 * 1024


class BundlePartsError(ValueError):
    """What is wrong and how to fix it."""


def part_name(index: int) -> str:
    return f"{PART_PREFIX}{index:04d}"


JOINED_MARKER = ".joined-parts.json"


class _Discard:
    def write(self, data):
        return len(data)

    def close(self):
        pass


class _PartWriter:
    """A write-only file object that cuts what it receives into parts, hashing each and the whole."""

    def __init__(self, out_dir: str, part_size: int):
        self.out_dir = out_dir
        self.part_size = part_size
        self.parts = []
        self.total = hashlib.sha256()
        self.size = 0
        self._handle = None
        self._hash = None
        self._written = 0

    def _open(self):
        name = part_name(len(self.parts) + 1)
        self._handle = (
            open(os.path.join(self.out_dir, name + ".tmp"), "wb")  # noqa: SIM115 - closed in _close
            if self.out_dir
            else _Discard()
        )
        self._hash = hashlib.sha256()
        self._written = 0
        self.parts.append({"name": name})

    def _close(self):
        if self._handle is None:
            return
        self._handle.close()
        entry = self.parts[-1]
        entry["size"] = self._written
        entry["sha256"] = self._hash.hexdigest()
        if self.out_dir:
            os.replace(os.path.join(self.out_dir, entry["name"] + ".tmp"), os.path.join(self.out_dir, entry["name"]))
        self._handle = None

    def write(self, data) -> int:
        view = memoryview(data)
        while len(view):
            if self._handle is None or self._written == self.part_size:
                self._close()
                self._open()
            room = self.part_size - self._written
            chunk = view[:room]
            self._handle.write(chunk)
            self._hash.update(chunk)
            self.total.update(chunk)
            self._written += len(chunk)
            self.size += len(chunk)
            view = view[len(chunk) :]
        return len(data)

    def close(self):
        self._close()

    def abort(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _reset_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_stream(bundle_dir: str, out_dir, part_size: int) -> _PartWriter:
    """The bundle as a tar stream cut into parts (out_dir None: only hashed, nothing written)."""
    writer = _PartWriter(out_dir, part_size)
    try:
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            for root, dirs, files in os.walk(bundle_dir):
                dirs.sort()
                for name in sorted(dirs) + sorted(files):
                    path = os.path.join(root, name)
                    arcname = os.path.relpath(path, bundle_dir)
                    if arcname == JOINED_MARKER:
                        continue
                    if os.path.isdir(path) and not os.path.islink(path):
                        archive.add(path, arcname=arcname, recursive=False, filter=_reset_owner)
                    elif os.path.isfile(path) and not os.path.islink(path):
                        archive.add(path, arcname=arcname, filter=_reset_owner)
                    else:
                        raise BundlePartsError(f"{path} is not a regular file or folder: a bundle holds only those")
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return writer


def split(bundle_dir: str, out_dir: str, part_size: int, check_only: bool = False) -> tuple:
    """Write the parts and the manifest into out_dir; return (changed, manifest).

    A folder already holding the parts of this very bundle (same stream sha256 and part size)
    is left as it is. check_only: compute, write nothing.
    """
    """Write the parts and the manifest into out_dir; return the manifest."""
    if not isinstance(part_size, int) or part_size < MIN_PART_SIZE:
        raise BundlePartsError(f"the part size must be at least {MIN_PART_SIZE} bytes (1 MiB), got {part_size!r}")
    if not os.path.isfile(os.path.join(bundle_dir, "bundle.lock.json")):
        raise BundlePartsError(
            f"{bundle_dir} holds no bundle.lock.json: it is not a bundle; build it with playbooks/bundle.yml first"
        )
    bundle_dir = os.path.abspath(bundle_dir)
    out_dir = os.path.abspath(out_dir)
    if out_dir == bundle_dir or out_dir.startswith(bundle_dir + os.sep):
        raise BundlePartsError(
            f"the parts folder {out_dir} is inside the bundle {bundle_dir}: choose a folder outside it"
        )
    existing = sorted(
        name
        for name in (os.listdir(out_dir) if os.path.isdir(out_dir) else [])
        if name.startswith(PART_PREFIX) or name == MANIFEST
    )
    if existing or check_only:
        planned = _write_stream(bundle_dir, None, part_size)
        manifest = _manifest(planned, part_size)
        if existing:
            try:
                current = read_manifest(out_dir)
            except BundlePartsError:
                current = None
            if current == manifest and not part_problems(out_dir, current):
                return False, manifest
            raise BundlePartsError(
                f"{out_dir} already holds parts ({', '.join(existing[:3])}{' ...' if len(existing) > 3 else ''}) "
                "of another bundle or part size: empty it (or choose another folder) so old and new parts cannot mix"
            )
        return True, manifest
    os.makedirs(out_dir, exist_ok=True)
    writer = _write_stream(bundle_dir, out_dir, part_size)
    manifest = _manifest(writer, part_size)
    _write_json(os.path.join(out_dir, MANIFEST), manifest)
    return True, manifest


def _manifest(writer: _PartWriter, part_size: int) -> dict:
    return {
        "version": FORMAT_VERSION,
        "format": "tar",
        "part_size": part_size,
        "size": writer.size,
        "sha256": writer.total.hexdigest(),
        "parts": writer.parts,
    }


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_manifest(parts_dir: str) -> dict:
    path = os.path.join(parts_dir, MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError as exc:
        raise BundlePartsError(
            f"{path} is missing: copy it from the medium with the parts (it lists every part and its sha256)"
        ) from exc
    except (OSError, ValueError) as exc:
        raise BundlePartsError(f"{path} cannot be read as JSON ({exc}): copy it again from the medium") from exc
    parts = manifest.get("parts") if isinstance(manifest, dict) else None
    if (
        manifest.get("version") != FORMAT_VERSION
        or manifest.get("format") != "tar"
        or not isinstance(parts, list)
        or not parts
        or not all(
            isinstance(p, dict)
            and p.get("name") == part_name(i + 1)
            and isinstance(p.get("size"), int)
            and isinstance(p.get("sha256"), str)
            for i, p in enumerate(parts)
        )
    ):
        raise BundlePartsError(f"{path} is not a bundle parts manifest of version {FORMAT_VERSION}: copy it again")
    return manifest


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def part_problems(parts_dir: str, manifest: dict) -> list:
    """One sentence per missing, truncated or corrupt part, naming it."""
    problems = []
    count = len(manifest["parts"])
    for index, part in enumerate(manifest["parts"], start=1):
        path = os.path.join(parts_dir, part["name"])
        where = f"part {index} of {count} ({part['name']})"
        if not os.path.isfile(path):
            problems.append(f"{where} is missing: copy it from the medium")
            continue
        size = os.path.getsize(path)
        if size != part["size"]:
            problems.append(f"{where} has {size} bytes, the manifest says {part['size']}: copy it again")
        elif _sha256(path) != part["sha256"]:
            problems.append(f"{where} is corrupt (sha256 differs from the manifest): copy it again")
    return problems


def _extract(archive, member, root: str) -> None:
    """Write one member below root: folders and regular files only, never outside root."""
    name = member.name
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or not name or "\0" in name:
        raise BundlePartsError(f"the archive names {name!r}, a path outside the bundle: the parts are not a bundle")
    target = os.path.join(root, *parts)
    if member.isdir():
        os.makedirs(target, mode=0o755, exist_ok=True)
        os.chmod(target, member.mode & 0o755)
        return
    if not member.isreg():
        raise BundlePartsError(f"the archive holds {name!r}, which is not a regular file or folder: refused")
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    source = archive.extractfile(member)
    with open(target, "xb") as handle:
        while chunk := source.read(_BUFFER):
            handle.write(chunk)
    os.chmod(target, member.mode & 0o755)
    os.utime(target, (member.mtime, member.mtime))


class _PartReader:
    """Read the parts one after another as one stream, hashing it."""

    def __init__(self, parts_dir: str, parts: list):
        self._paths = [os.path.join(parts_dir, part["name"]) for part in parts]
        self._handle = None
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, size=-1):
        while True:
            if self._handle is None:
                if not self._paths:
                    return b""
                self._handle = open(self._paths.pop(0), "rb")  # noqa: SIM115 - closed at its end
            data = self._handle.read(size if size and size > 0 else _BUFFER)
            if data:
                self.hash.update(data)
                self.size += len(data)
                return data
            self._handle.close()
            self._handle = None

    def close(self):
        if self._handle is not None:
            self._handle.close()


def join(parts_dir: str, dest_dir: str, check_only: bool = False) -> tuple:
    """Check every part, then rebuild the bundle folder at dest_dir; return (changed, manifest).

    dest_dir must not exist or be empty, unless it was joined from these very parts before
    (its .joined-parts.json equals the manifest): then nothing is done. check_only: check the
    parts, write nothing.
    """
    manifest = read_manifest(parts_dir)
    marker = os.path.join(dest_dir, JOINED_MARKER)
    if os.path.isfile(marker):
        try:
            with open(marker, encoding="utf-8") as handle:
                if json.load(handle) == manifest:
                    return False, manifest
        except (OSError, ValueError):
            pass
    problems = part_problems(parts_dir, manifest)
    if problems:
        raise BundlePartsError("; ".join(problems) + f". Nothing was written to {dest_dir}")
    if os.path.exists(dest_dir) and os.listdir(dest_dir):
        raise BundlePartsError(
            f"{dest_dir} is not empty: join into a new folder (or remove the old bundle first) so files cannot mix"
        )
    if check_only:
        return True, manifest
    tmp_dir = dest_dir.rstrip(os.sep) + ".joining"
    if os.path.exists(tmp_dir):
        shutil.rmtree(tmp_dir)
    os.makedirs(tmp_dir)
    try:
        _extract_all(parts_dir, manifest, tmp_dir)
        _write_json(os.path.join(tmp_dir, JOINED_MARKER), manifest)
        if os.path.exists(dest_dir):
            os.rmdir(dest_dir)
        os.replace(tmp_dir, dest_dir)
    except BaseException:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        raise
    return True, manifest


def _extract_all(parts_dir: str, manifest: dict, tmp_dir: str) -> None:
    reader = _PartReader(parts_dir, manifest["parts"])
    try:
        folders = []
        with tarfile.open(fileobj=reader, mode="r|") as archive:
            for member in archive:
                _extract(archive, member, tmp_dir)
                if member.isdir():
                    folders.append(member)
        # Folder times last (writing files into a folder changes its time), deepest first.
        for member in reversed(folders):
            os.utime(os.path.join(tmp_dir, *member.name.split("/")), (member.mtime, member.mtime))
        # tarfile stops at the end-of-archive marker: read the padding that follows.
        while reader.read(_BUFFER):
            pass
    except (tarfile.TarError, OSError) as exc:
        raise BundlePartsError(f"the joined parts are not a valid bundle archive ({exc})") from exc
    finally:
        reader.close()
    if reader.size != manifest["size"] or reader.hash.hexdigest() != manifest["sha256"]:
        raise BundlePartsError(
            f"the joined stream's sha256 or size differs from the manifest although every part matched: the manifest "
            f"is inconsistent; copy the parts and {MANIFEST} again"
        )
    if not os.path.isfile(os.path.join(tmp_dir, "bundle.lock.json")):
        raise BundlePartsError("the parts hold no bundle.lock.json: they are not a bundle")
