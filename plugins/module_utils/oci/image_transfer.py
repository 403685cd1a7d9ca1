# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Copy images between a bundle and registries: push (preload) and pull (bundle).

Push (``push_bundle``), for every image of a bundle:
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

Pull (``pull_image``): fetch a manifest tree and its blobs into an OCI layout,
verifying every digest while streaming; an image whose layout entry already
matches the registry's digest (or the pinned digest) is skipped.

Stdlib only.
"""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import (
    ImageRef,
    ImageRefError,
    normalize_registry,
    parse_image,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    ANNOTATION_REFERENCE_TYPE,
    ATTESTATION_MANIFEST,
    INDEX_TYPES,
    ContentError,
    descriptors,
    parse_manifest,
    platform_string,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_platforms import (
    check_image_platform,
    select_platforms,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import BundleSource, OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import TransientError

MAX_INDEX_DEPTH = 4


class ImageTree:
    """An image's manifests (children first, top last) and blobs."""

    def __init__(self, name: str, digest: str, media_type: str):
        self.name = name
        self.digest = digest
        self.media_type = media_type
        self.manifests: list[tuple[str, str, bytes]] = []
        self.blobs: dict[str, int] = {}
        self.platforms: list[str] = []
        self.config_digest: str | None = None


def _walk(
    tree: ImageTree, fetch, digest: str, media_type: str | None, depth: int, where: str, attestation: bool = False
) -> None:
    data = fetch(digest, media_type)
    mt, obj = parse_manifest(data, media_type, where, attestation)
    if mt in INDEX_TYPES:
        if depth >= MAX_INDEX_DEPTH:
            raise ContentError(f"{where}: image indexes nested deeper than {MAX_INDEX_DEPTH} levels")
        for child in descriptors(obj, mt):
            platform = platform_string(child.get("platform"))
            if platform and platform != "unknown/unknown" and depth == 0:
                tree.platforms.append(platform)
            kind = (child.get("annotations") or {}).get(ANNOTATION_REFERENCE_TYPE)
            _walk(tree, fetch, child["digest"], child.get("mediaType"), depth + 1, where, kind == ATTESTATION_MANIFEST)
    else:
        for desc in descriptors(obj, mt):
            tree.blobs[desc["digest"]] = desc["size"]
        if depth == 0:
            tree.config_digest = obj["config"]["digest"]
    tree.manifests.append((digest, mt, data))


def tree_from_source(
    source: BundleSource, name: str, digest: str, media_type: str | None, allow_missing=()
) -> ImageTree:
    """The image's tree, every blob checked present with its size except those in ``allow_missing``
    (True: none checked; a differential bundle leaves the base's blobs in the registry)."""

    def fetch(dg, _mt):
        return source.read_blob(dg, f"{name} in {source.location}")

    tree = ImageTree(name, digest, media_type or "")
    _walk(tree, fetch, digest, media_type, 0, f"image {name} in {source.location}")
    tree.media_type = tree.manifests[-1][1]
    for blob, size in tree.blobs.items():
        if allow_missing is True or blob in allow_missing:
            continue
        have = source.blob_size(blob)
        if have is None:
            raise ContentError(
                f"blob {blob} of image {name} is missing from {source.location}; the bundle is incomplete, rebuild it with playbooks/bundle.yml"
            )
        if have != size:
            raise ContentError(
                f"blob {blob} of image {name} in {source.location} has {have} bytes, the manifest says {size}; "
                "the bundle is corrupt, rebuild it with playbooks/bundle.yml"
            )
    return tree


def target_for(name: str, registry: str, registry_name: str | None = None) -> tuple[str, str]:
    """(repository under ``registry``, reference) keeping the full upstream path.

    ``registry_name`` is the name image references give the same registry when it is
    reached under another address (``registry.local:5000`` reached as ``10.0.0.5:5000``):
    an image named under it (the Task API's seed image) is already local and keeps its
    own path (``gauntlet/task-api``) instead of being mirrored under its registry name.
    """
    ref = parse_image(name)
    if registry_name and ref.registry == normalize_registry(registry_name):
        ref = ref.with_registry(normalize_registry(registry))
    ref = ref.mirror(registry)
    return ref.repository, ref.tag or ref.digest


def _run_pool(tasks, concurrency: int) -> list:
    """Run callables with bounded concurrency; stop at the first error and raise it.

    After the first failure no queued task starts, not even on a worker that is idle at
    that moment (before the pool has cancelled the queue); tasks in flight finish with
    their own retry budget, and the first error is the one raised.
    """
    if not tasks:
        return []
    if concurrency <= 1 or len(tasks) == 1:
        return [task() for task in tasks]
    failed = threading.Event()
    first: list[Exception] = []
    lock = threading.Lock()

    def guarded(task):
        if failed.is_set():
            return None
        try:
            return task()
        except Exception as exc:
            with lock:
                if not first:
                    first.append(exc)
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(guarded, task) for task in tasks]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in pending:
            fut.cancel()
    if first:
        raise first[0]
    return [fut.result() for fut in futures]


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
    remote = _run_pool([lambda t=t: client.manifest_digest(*targets[t.name]) for _unused, t in trees], concurrency)
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
    _run_pool([lambda b=b: ensure(b, homes[b][0], homes[b][1], known.get(b)) for b in order], concurrency)
    _run_pool([lambda o=o: ensure(o[0], o[1], o[2], homes[o[0]][0]) for o in others], concurrency)
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


# -- pull ---------------------------------------------------------------------


def _layout_tree(layout: OciLayout, name: str, digest: str, media_type: str | None) -> ImageTree | None:
    """The tree of an image already in the layout, or None when anything is missing."""
    try:
        return tree_from_source(layout, name, digest, media_type)
    except ContentError:
        return None


def _config_platform(layout: OciLayout, tree: ImageTree) -> list[str]:
    if tree.platforms or not tree.config_digest:
        return sorted(tree.platforms)
    try:
        import json

        config = json.loads(layout.read_blob(tree.config_digest, tree.name))
        platform = platform_string(
            {"os": config.get("os"), "architecture": config.get("architecture"), "variant": config.get("variant")}
        )
        return [platform] if platform else []
    except (ContentError, ValueError):
        return []


def _checked_platforms(layout: OciLayout, tree: ImageTree, wanted: list[str] | None) -> list[str]:
    """The image's platforms; an image manifest (one platform, from its config) must be every wanted one."""
    found = _config_platform(layout, tree)
    if tree.media_type not in INDEX_TYPES:
        check_image_platform(tree.name, found[0] if found else None, wanted or [])
    return found


def pull_image(
    image: str,
    layout: OciLayout,
    client: RegistryClient,
    *,
    check_mode: bool = False,
    concurrency: int = 4,
    platforms: list[str] | None = None,
) -> dict:
    """Pull one image into ``layout``: all platforms of an index, or only ``platforms``
    (a reduced index, module_utils/oci/image_platforms.py; a reference pinned by digest keeps its index)."""
    try:
        ref: ImageRef = parse_image(image)
    except ImageRefError as exc:
        raise ContentError(f"images: {exc}") from exc
    name = str(ref)
    existing = {e.name: e for e in layout.entries()}.get(name)
    result = {"name": name, "source": image, "status": "present", "bytes": 0}
    repo = ref.repository
    if existing is not None and not platforms:  # with a filter, the index is read to know the reduced digest
        current = ref.digest or (client.manifest_digest(repo, ref.reference) or (None,))[0]
        if current == existing.digest:
            tree = _layout_tree(layout, name, existing.digest, existing.media_type)
            if tree is not None:
                result.update(digest=tree.digest, media_type=tree.media_type, platforms=_config_platform(layout, tree))
                return result
    data, media_type, digest = client.get_manifest(repo, ref.reference)
    if ref.digest and digest != ref.digest:
        raise ContentError(f"digest mismatch for manifest of {name}: expected {ref.digest}, got {digest}")
    upstream = digest
    data, digest, dropped = select_platforms(name, data, media_type, platforms or [], keep_all=bool(ref.digest))
    fetched: dict[str, bytes] = {digest: data}

    def fetch(dg, _mt):
        if dg not in fetched:
            fetched[dg] = client.get_manifest(repo, dg)[0]
        return fetched[dg]

    tree = ImageTree(name, digest, media_type)
    _walk(tree, fetch, digest, media_type or None, 0, f"image {name}")
    tree.media_type = tree.manifests[-1][1]
    result.update(digest=digest, media_type=tree.media_type, status="would_pull" if check_mode else "pulled")
    if digest != upstream:
        result.update(upstream_digest=upstream, dropped_platforms=dropped)
    missing = {b: s for b, s in tree.blobs.items() if layout.blob_size(b) != s}
    if (
        existing is not None
        and existing.digest == digest
        and not missing
        and all(layout.blob_size(dg) == len(body) for dg, _mt, body in tree.manifests)
    ):
        # A reduced index is not the registry's digest: the comparison above cannot skip it.
        result.update(status="present", platforms=_checked_platforms(layout, tree, platforms))
        return result
    if check_mode:
        result["bytes"] = sum(missing.values())
        result["platforms"] = sorted(tree.platforms)
        return result
    moved = []

    def fetch_blob(blob: str, size: int) -> None:
        attempt = 0
        while True:
            try:
                raw = client.open_blob(repo, blob, retry=False)  # this loop is the budget
                try:
                    moved.append(layout.write_blob(blob, raw, size, f"image {name} from {client.registry}"))
                finally:
                    raw.close()
                return
            except (TransientError, OSError, http.client.HTTPException) as exc:
                if attempt >= client.retries:
                    raise TransientError(f"download of blob {blob} of {name} failed: {exc}") from exc
                attempt += 1
                client._sleep(attempt)

    _run_pool(
        [lambda b=b, s=s: fetch_blob(b, s) for b, s in sorted(missing.items(), key=lambda kv: -kv[1])], concurrency
    )
    found = _checked_platforms(layout, tree, platforms)
    for dg, _mt, body in tree.manifests:
        layout.write_bytes(dg, body, f"manifest of {name}")
    layout.set_image(name, {"mediaType": tree.media_type, "digest": digest, "size": len(data)})
    result["bytes"] = sum(moved)
    result["platforms"] = found
    return result
