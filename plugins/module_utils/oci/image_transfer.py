# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Copy images between a bundle and registries: what push (image_push.py, preload) and pull
(image_pull.py, bundle) share.

- ``ImageTree`` / ``walk_tree``: an image's manifests (children first, top last) and blobs,
  read through any ``fetch`` (a bundle's layout, a registry), media types checked.
- ``tree_from_source``: the tree of an image of a bundle, every blob checked present.
- ``target_for``: where an image goes in a registry (its full upstream path).
- ``run_pool``: bounded concurrency that stops at the first error.

Stdlib only.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    ANNOTATION_REFERENCE_TYPE,
    ATTESTATION_MANIFEST,
    INDEX_TYPES,
    ContentError,
    descriptors,
    parse_manifest,
    platform_string,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import normalize_registry, parse_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import BundleSource

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


def walk_tree(
    tree: ImageTree, fetch, digest: str, media_type: str | None, depth: int, where: str, attestation: bool = False
) -> None:
    """Add the manifest ``digest`` and everything below it to ``tree`` (children first), each read with
    ``fetch(digest, media_type)`` and checked."""
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
            walk_tree(
                tree, fetch, child["digest"], child.get("mediaType"), depth + 1, where, kind == ATTESTATION_MANIFEST
            )
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
    walk_tree(tree, fetch, digest, media_type, 0, f"image {name} in {source.location}")
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


def run_pool(tasks, concurrency: int) -> list:
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
