# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Pull an image from a registry into the bundle's OCI layout: ``pull_image``.

Fetch a manifest tree and its blobs into an OCI layout, verifying every digest while
streaming; an image whose layout entry already matches the registry's digest (or the pinned
digest) is skipped. With ``platforms``, an index is reduced to them (image_platforms.py).

Stdlib only.
"""

from __future__ import annotations

import http.client

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    INDEX_TYPES,
    ContentError,
    platform_string,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_platforms import (
    check_image_platform,
    select_platforms,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import (
    ImageRef,
    ImageRefError,
    parse_image,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import (
    ImageTree,
    run_pool,
    tree_from_source,
    walk_tree,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import TransientError


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
    walk_tree(tree, fetch, digest, media_type or None, 0, f"image {name}")
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

    run_pool(
        [lambda b=b, s=s: fetch_blob(b, s) for b, s in sorted(missing.items(), key=lambda kv: -kv[1])], concurrency
    )
    found = _checked_platforms(layout, tree, platforms)
    for dg, _mt, body in tree.manifests:
        layout.write_bytes(dg, body, f"manifest of {name}")
    layout.set_image(name, {"mediaType": tree.media_type, "digest": digest, "size": len(data)})
    result["bytes"] = sum(moved)
    result["platforms"] = found
    return result
