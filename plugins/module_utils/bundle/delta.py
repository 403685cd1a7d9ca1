# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Differential bundles: what a new bundle adds to an old one, and the checks that the old
one is really there before the difference is used.

- ``plan_delta``: the delta lock (complete, naming its base, every entry marked ``carried``;
  the marks are defined in ``bundle_lock``) from the new full lock and the base lock.
- ``write_delta``: the delta folder (carried files, the wheels, an OCI layout with the
  carried images' manifests and only the blobs the base lacks), hard-linked from the full bundle.
- ``base_problems``: before a preload pushes anything, every image the delta does not
  carry must be in the registry with its digest, and every blob a carried image shares with
  the base must be in the registry (``HEAD`` requests only).
- ``base_lock_problem``: a base bundle folder is the one the delta lock names (its lock's sha256).

What two bundles differ in, for a person to read, is diff.py's.

Stdlib only.
"""

from __future__ import annotations

import copy
import os
import shutil

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import (
    run_pool,
    target_for,
    tree_from_source,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout

LOCK_NAME = "bundle.lock.json"


class DeltaError(ValueError):
    """A differential bundle that cannot be built or used, with what to do."""


# -- build ----------------------------------------------------------------------------


def _base_holders(base_lock: dict, layout: OciLayout | None) -> dict:
    """{digest: a base image holding it} over every manifest and blob of the base.

    A base lock written before locks listed image content is read through the full
    bundle's layout, which still holds the base's manifests when it is the same folder and
    the image is still listed. An image the new bundle no longer has (image_bundle removed
    it and its own blobs after the upgrade) holds nothing here: a blob only it held is
    carried, never assumed to be in the registry (a larger delta, never a broken one).
    """
    holders: dict[str, str] = {}
    for entry in base_lock["images"]:
        if bundle_lock.has_content(entry):
            digests = [m["digest"] for m in entry["manifests"]] + [b["digest"] for b in entry["blobs"]]
        else:
            tree = None
            if layout is not None:
                try:
                    tree = tree_from_source(layout, entry["name"], entry["digest"], entry.get("media_type"), True)
                except ContentError:
                    tree = None
            if tree is None:
                continue
            digests = [digest for digest, _mt, _data in tree.manifests] + list(tree.blobs)
        for digest in digests:
            holders.setdefault(digest, entry["name"])
    return holders


def plan_delta(full_lock: dict, base_path: str, layout: OciLayout | None = None) -> dict:
    """The delta lock: ``full_lock`` with its base and every entry marked carried or not."""
    base_lock = bundle_lock.load_lock(base_path, missing_ok=False)
    if bundle_lock.base_of(base_lock):
        # Its files are split between two folders on the controller: a base must be one folder.
        raise DeltaError(
            f"since: {base_path} is the lock of a differential bundle (over {base_lock['base']['name']}); give the "
            "lock of a full bundle whose folder the controller has (the base of that delta: each new delta then "
            "carries everything since it)"
        )
    holders = _base_holders(base_lock, layout)
    delta = copy.deepcopy(full_lock)
    delta["base"] = {
        "name": os.path.basename(base_path),
        "path": os.path.abspath(base_path),
        "sha256": bundle_lock.lock_sha256(base_path),
    }
    base_files = {f["name"]: f["sha256"] for f in base_lock["files"]}
    for entry in delta["files"]:
        entry["carried"] = base_files.get(entry["name"]) != entry["sha256"]
    base_images = {i["name"]: i["digest"] for i in base_lock["images"]}
    for entry in delta["images"]:
        if not bundle_lock.has_content(entry):
            raise DeltaError(
                f"image {entry['name']} has no manifests and blobs in the new lock; run playbooks/bundle.yml "
                "again without --check so image_bundle records them"
            )
        carried = base_images.get(entry["name"]) != entry["digest"]
        entry["carried"] = carried
        # A changed image's manifests are carried whole (a few KiB): the delta's layout names it.
        for item in entry["manifests"]:
            item["carried"] = carried
        for item in entry["blobs"]:
            holder = holders.get(item["digest"])
            item["carried"] = carried and holder is None
            item.pop("base_image", None)
            if carried and holder is not None:
                item["base_image"] = holder
    return bundle_lock.validate_lock(delta, "delta lock")


def _link(src: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def delta_content(delta: dict) -> tuple[list, dict, list]:
    """(carried files, {carried blob digest: size}, carried images) of a delta lock."""
    files = [f for f in delta["files"] if bundle_lock.is_carried(f)]
    images = [i for i in delta["images"] if bundle_lock.is_carried(i)]
    blobs: dict[str, int] = {}
    for image in images:
        for item in image["manifests"] + image["blobs"]:
            if bundle_lock.is_carried(item):
                blobs[item["digest"]] = item["size"]
    return files, blobs, images


def _complete(delta_dir: str, files: list, blobs: dict) -> bool:
    for entry in files:
        if not os.path.isfile(os.path.join(delta_dir, "files", entry["name"])):
            return False
    for digest, size in blobs.items():
        path = os.path.join(delta_dir, "images", "blobs", "sha256", digest.split(":", 1)[1])
        if not os.path.isfile(path) or os.path.getsize(path) != size:
            return False
    return True


def write_delta(full_dir: str, delta_dir: str, delta: dict, check_mode: bool = False) -> dict:
    """Write the delta folder from the full bundle ``full_dir``; returns a summary with ``changed``."""
    full_dir, delta_dir = os.path.abspath(full_dir), os.path.abspath(delta_dir)
    if os.path.realpath(full_dir) == os.path.realpath(delta_dir):
        raise DeltaError(
            f"the differential bundle's folder {delta_dir} is the full bundle's own folder: choose another"
        )
    lock_path = os.path.join(delta_dir, LOCK_NAME)
    if os.path.isdir(delta_dir) and os.listdir(delta_dir):
        try:
            old = bundle_lock.load_lock(lock_path, missing_ok=False)
        except bundle_lock.BundleLockError:
            old = {}
        if not bundle_lock.base_of(old):
            raise DeltaError(
                f"{delta_dir} is not empty and is not a differential bundle (no {LOCK_NAME} naming a base): "
                "refusing to replace it; choose an empty or new folder (gauntlet_bundle_delta_dir)"
            )
    files, blobs, images = delta_content(delta)
    text = bundle_lock.dump_lock(delta)
    summary = {
        "lock_file": lock_path,
        "base": delta["base"],
        "files": [{"name": f["name"], "sha256": f["sha256"], "size": f.get("size")} for f in files],
        "images": [{"name": i["name"], "digest": i["digest"]} for i in images],
        "blobs": [{"digest": d, "size": blobs[d]} for d in sorted(blobs)],
        "bytes": sum(blobs.values()) + sum(f.get("size") or 0 for f in files),
        "files_from_base": sorted(f["name"] for f in delta["files"] if not bundle_lock.is_carried(f)),
        "images_from_base": sorted(i["name"] for i in delta["images"] if not bundle_lock.is_carried(i)),
    }
    try:
        with open(lock_path, encoding="utf-8") as handle:
            same = handle.read() == text
    except OSError:
        same = False
    if same and _complete(delta_dir, files, blobs):
        return {"changed": False, **summary}
    if check_mode:
        return {"changed": True, **summary}
    full_layout = OciLayout(os.path.join(full_dir, "images"))
    partial = delta_dir + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    os.makedirs(os.path.join(partial, "files"))
    for entry in files:
        src = os.path.join(full_dir, "files", entry["name"])
        if not os.path.isfile(src):
            raise DeltaError(f"bundle file {src} is missing from the full bundle; rerun playbooks/bundle.yml")
        _link(src, os.path.join(partial, "files", entry["name"]))
    wheels = os.path.join(full_dir, "wheels")
    # Wheels (a few MiB, read by the package index stage from one folder) are carried whole.
    for entry in delta.get("wheels", []):
        src = os.path.join(wheels, entry["filename"])
        if os.path.isfile(src):
            _link(src, os.path.join(partial, "wheels", entry["filename"]))
    layout = OciLayout(os.path.join(partial, "images"), create=True)
    for digest in blobs:
        src = full_layout.blob_path(digest)
        if not os.path.isfile(src):
            raise DeltaError(f"blob {digest} is missing from {full_layout.location}; rerun playbooks/bundle.yml")
        _link(src, layout.blob_path(digest))
    for image in images:
        top = image["manifests"][-1]
        layout.set_image(image["name"], {"mediaType": top["media_type"], "digest": top["digest"], "size": top["size"]})
    bundle_lock.write_lock(os.path.join(partial, LOCK_NAME), delta)
    if os.path.isdir(delta_dir):
        old = delta_dir + ".old"
        shutil.rmtree(old, ignore_errors=True)
        os.rename(delta_dir, old)
        os.rename(partial, delta_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.makedirs(os.path.dirname(delta_dir) or ".", exist_ok=True)
        os.rename(partial, delta_dir)
    return {"changed": True, **summary}


# -- use ------------------------------------------------------------------------------


def base_lock_problem(delta: dict, base_dir: str | None) -> str | None:
    """Why ``base_dir`` cannot serve the files a delta lock does not carry (None when it can)."""
    base = bundle_lock.base_of(delta)
    if not base:
        return None
    where = f"the base lock {base['name']} (sha256 {base['sha256']}, built as {base.get('path', base['name'])})"
    if not base_dir:
        return (
            f"this is a differential bundle over {where}: set gauntlet_bundle_base_dir to the folder of that "
            "base bundle on the controller"
        )
    path = os.path.join(base_dir, LOCK_NAME)
    try:
        actual = bundle_lock.lock_sha256(path)
    except OSError as exc:
        return f"the base bundle {base_dir} has no readable {LOCK_NAME} ({exc.strerror}); the delta needs {where}"
    if actual != base["sha256"]:
        return (
            f"the base bundle {base_dir} is not this delta's base: its {LOCK_NAME} has sha256 {actual}, the delta "
            f"needs {where}; point gauntlet_bundle_base_dir at that bundle"
        )
    return None


def _shared_blobs(delta: dict, registry: str, registry_name: str | None) -> dict:
    """{digest: (repository of a base image holding it, carried image, that base image)} over every
    blob a carried image leaves in the base."""
    out = {}
    for image in delta["images"]:
        if not bundle_lock.is_carried(image):
            continue
        for item in image["blobs"]:
            if not bundle_lock.is_carried(item) and item["digest"] not in out:
                repo = target_for(item["base_image"], registry, registry_name)[0]
                out[item["digest"]] = (repo, image["name"], item["base_image"])
    return out


def external_blobs(delta: dict, registry: str, registry_name: str | None = None) -> dict:
    """{digest: repository in the registry} for every blob a carried image shares with the base."""
    return {digest: found[0] for digest, found in _shared_blobs(delta, registry, registry_name).items()}


def base_problems(delta: dict, client, registry_name: str | None = None, concurrency: int = 4) -> list:
    """What the registry lacks of a delta's base: one line per image or blob (HEAD requests only)."""
    checks = []
    for image in delta["images"]:
        if bundle_lock.is_carried(image):
            continue
        repo, ref = target_for(image["name"], client.registry, registry_name)

        def check_image(image=image, repo=repo, ref=ref):
            found = client.manifest_digest(repo, ref)
            if found and found[0] == image["digest"]:
                return None
            now = f"it names {found[0]}" if found else "it is not there"
            return f"image {image['name']} {image['digest']} at {client.registry}/{repo}:{ref} ({now})"

        checks.append(check_image)
    for digest, (repo, name, holder) in _shared_blobs(delta, client.registry, registry_name).items():
        own = target_for(name, client.registry, registry_name)[0]

        def check_blob(digest=digest, repo=repo, own=own, holder=holder, name=name):
            if client.blob_exists(repo, digest) or (own != repo and client.blob_exists(own, digest)):
                return None
            return f"blob {digest} of {name} (from base image {holder}) in {client.registry}/{repo}"

        checks.append(check_blob)
    return [p for p in run_pool(checks, concurrency) if p]


def refusal(delta: dict, problems: list) -> str:
    base = bundle_lock.base_of(delta)
    shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
    return (
        f"refusing to preload a differential bundle whose base the registry does not hold: missing {shown}. "
        f"Preload the base bundle first (its lock {base['name']}, sha256 {base['sha256']}, built as "
        f"{base.get('path', base['name'])}), then this one; nothing was pushed"
    )
