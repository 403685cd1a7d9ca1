# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Push the images of a bundle into a registry (preload): ``push_bundle``.

For every image of a bundle:
1. read its manifest tree from the bundle (index -> manifests; small, verified)
   and reject unknown media types before anything is sent;
2. ``HEAD`` the target tag: when it already names the same digest the image is
   ``present`` and none of its layers is read;
3. upload every missing blob once, into the first repository that needs it
   (``HEAD`` first), with bounded concurrency; other repositories get the blob
   by cross-repository mount (upload as fallback);
4. only when every blob is in place, push child manifests by digest and then
   the tag: a failed run never leaves a tag pointing at a broken manifest.
Manifests are pushed byte for byte, so the pushed digest equals the source's.

Stdlib only.
"""

from __future__ import annotations

import threading
import time

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import (
    run_pool,
    target_for,
    tree_from_source,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import BundleSource
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient


def push_bundle(
    sources,
    client: RegistryClient,
    *,
    images=None,
    check_mode: bool = False,
    concurrency: int = 4,
    registry_name: str | None = None,
    replace_tags: bool = False,
    external_blobs: dict | None = None,
) -> dict:
    """Push the images of one or more bundle sources into ``client``'s registry at their full upstream paths.

    A tag the registry already has under another digest is not re-pointed unless
    ``replace_tags``: the run stops before anything is sent and names every such tag
    (the registry's image was replaced behind the platform's back, or the bundle was
    rebuilt with a new upstream digest; either way a person decides).

    Blobs are de-duplicated across all sources: each missing blob is uploaded
    once and mounted into every other repository that needs it. Images named under
    ``registry_name`` (the name references give this registry) keep their own path
    (see ``target_for``).

    ``external_blobs`` ({digest: repository}) are blobs the sources do not hold because the
    registry already has them in that repository (a differential bundle's base, checked
    with ``bundle_delta.base_problems`` before this is called): they are mounted, never uploaded.
    """
    external = dict(external_blobs or {})
    started = time.monotonic()
    if isinstance(sources, BundleSource):
        sources = [sources]
    entries = []  # (source, entry), first occurrence of a name wins
    seen: dict[str, tuple] = {}
    for source in sources:
        for entry in source.entries():
            if entry.name in seen:
                if seen[entry.name][1].digest != entry.digest:
                    raise ContentError(
                        f"image {entry.name} is in {seen[entry.name][0].location} as {seen[entry.name][1].digest} "
                        f"and in {source.location} as {entry.digest}; remove one of them"
                    )
                continue
            seen[entry.name] = (source, entry)
            entries.append((source, entry))
    where = ", ".join(s.location for s in sources) or "no source"
    if images:
        wanted = {}
        for image in images:
            try:
                wanted[str(parse_image(image))] = image
            except ImageRefError as exc:
                raise ContentError(f"images: {exc}") from exc
        missing = [orig for norm, orig in wanted.items() if norm not in seen]
        if missing:
            raise ContentError(
                f"images not in {where}: {', '.join(missing)}; the bundle has: {', '.join(sorted(seen)) or 'nothing'}"
            )
        entries = [(s, e) for s, e in entries if e.name in wanted]
    # 1. manifest trees (validates media types and blob presence before any write)
    trees = [(s, tree_from_source(s, e.name, e.digest, e.media_type, external)) for s, e in entries]
    targets = {t.name: target_for(t.name, client.registry, registry_name) for _unused, t in trees}
    # 2. what is already there
    remote = run_pool([lambda t=t: client.manifest_digest(*targets[t.name]) for _unused, t in trees], concurrency)
    moved = [
        f"{client.registry}/{targets[tree.name][0]}:{targets[tree.name][1]} already names {found[0]}, the bundle has {tree.digest}"
        for (_source, tree), found in zip(trees, remote, strict=True)
        if found and found[0] != tree.digest and not targets[tree.name][1].startswith("sha256:")
    ]
    if moved and not replace_tags:
        raise ContentError(
            "refusing to re-point existing tags: "
            + "; ".join(moved)
            + ". Find out why they differ first (playbooks/verify.yml lists drifted tags); to replace them on purpose, "
            "run the preload with image_preload_replace_tags=true"
        )
    results = []
    todo = []
    known: dict[str, str] = dict(external)  # blob -> a repository of the registry that has it
    for (source, tree), found in zip(trees, remote, strict=True):
        repo, reference = targets[tree.name]
        present = bool(found) and found[0] == tree.digest
        results.append(
            {
                "name": tree.name,
                "target": f"{client.registry}/{repo}"
                + (f"@{reference}" if reference.startswith("sha256:") else f":{reference}"),
                "digest": tree.digest,
                "media_type": tree.media_type,
                "platforms": sorted(tree.platforms),
                "status": "present" if present else ("would_push" if check_mode else "pushed"),
                "bytes": 0,
            }
        )
        if present:
            # The registry accepted this manifest, so it holds all its blobs: mount sources for free.
            for blob in tree.blobs:
                known.setdefault(blob, repo)
        else:
            todo.append((source, tree, results[-1]))
    # 3. blobs: each missing blob uploaded once into its home repository, mounted elsewhere
    homes: dict[str, tuple] = {}  # blob -> (repo, size, result, image name, source)
    others: list[tuple[str, str, int]] = []
    for source, tree, result in todo:
        repo = targets[tree.name][0]
        for blob, size in tree.blobs.items():
            if blob not in homes:
                homes[blob] = (repo, size, result, tree.name, source)
            elif homes[blob][0] != repo:
                others.append((blob, repo, size))
    stats = {"blobs_uploaded": 0, "blobs_mounted": 0, "blobs_present": 0, "bytes_pushed": 0, "manifests_pushed": 0}
    lock = threading.Lock()

    def count(key: str, n: int = 1) -> None:
        with lock:
            stats[key] += n

    def upload(blob: str, repo: str, size: int, location: str | None = None) -> None:
        _home, _size, result, name, source = homes[blob]
        if blob in external and not source.has_blob(blob):
            raise ContentError(
                f"blob {blob} of {name} is not in {source.location} (a differential bundle) and the registry "
                f"{client.registry} could not mount it from {external[blob]}: preload the base bundle first"
            )
        if not check_mode:
            client.upload_blob(
                repo, blob, size, lambda: source.open_blob(blob), where=f"{name} ({source.location})", location=location
            )
        count("blobs_uploaded")
        count("bytes_pushed", size)
        with lock:
            result["bytes"] += size

    def ensure(blob: str, repo: str, size: int, mount_from: str | None) -> None:
        if client.blob_exists(repo, blob):
            count("blobs_present")
            return
        if mount_from and mount_from != repo:
            if check_mode:
                count("blobs_mounted")
                return
            mounted, location = client.mount_blob(repo, blob, mount_from)
            if mounted:
                count("blobs_mounted")
                return
            upload(blob, repo, size, location)
            return
        upload(blob, repo, size)

    # Biggest first keeps the pool busy to the end.
    order = sorted(homes, key=lambda b: -homes[b][1])
    run_pool([lambda b=b: ensure(b, homes[b][0], homes[b][1], known.get(b)) for b in order], concurrency)
    run_pool([lambda o=o: ensure(o[0], o[1], o[2], homes[o[0]][0]) for o in others], concurrency)
    # 4. manifests: children by digest, then the tag
    if not check_mode:
        for _source, tree, _result in todo:
            repo, reference = targets[tree.name]
            for digest, media_type, data in tree.manifests[:-1]:
                if client.manifest_digest(repo, digest) is None:
                    client.put_manifest(repo, digest, data, media_type)
                    stats["manifests_pushed"] += 1
            digest, media_type, data = tree.manifests[-1]
            client.put_manifest(repo, reference, data, media_type)
            stats["manifests_pushed"] += 1
    stats["seconds"] = round(time.monotonic() - started, 3)
    return {"changed": bool(todo), "images": results, **stats}
