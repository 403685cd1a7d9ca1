# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Registry prune: remove from the registry the images the current bundle lock no longer has.

Only **mirror repositories** are considered: those image_preload fills at an image's
full upstream path, whose first path component is a registry host
(``docker.io/library/nginx``, ``quay.io/...``, ``git.example_3000/...``). The
platform's own repositories (``gauntlet/task-api``, which the pipeline pushes to) and
any repository matching a ``keep`` pattern are never touched.

In a mirror repository, a tag the lock does not name is stale. Its manifest is deleted
by digest (``DELETE /v2/<name>/manifests/<digest>``, which removes every tag naming
that digest in the repository), unless a kept tag or a locked digest of the same
repository is that digest. For an index, its child manifests go too, unless kept
content references them. Blobs are not deleted through the API: the registry's
garbage collection (``registry garbage-collect <config>``, run with the registry
stopped) removes what no manifest references any more.

Untagged manifests cannot be listed through the distribution API, so a manifest that
lost its tag before the prune is left to the registry's own tools.

Stdlib only.
"""

from __future__ import annotations

import fnmatch
import json
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import target_for
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import INDEX_TYPES
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryAuthError

# A registry host as image_ref.mirror writes it as a path component: a name with a dot,
# "localhost", or host_port (":" is not allowed in a repository path).
_REGISTRY_COMPONENT = re.compile(r"^(localhost|[^/]*\.[^/]*|[^/]+_[0-9]+)$")


def is_mirror_repository(repo: str) -> bool:
    first = repo.split("/", 1)[0]
    return "/" in repo and bool(_REGISTRY_COMPONENT.match(first))


def _children(client: RegistryClient, repo: str, digest: str) -> list[str]:
    """Child manifest digests of an index (none for an image manifest)."""
    data, media_type, _unused = client.get_manifest(repo, digest)
    try:
        obj = json.loads(data)
    except ValueError:
        return []
    if (obj.get("mediaType") or media_type) not in INDEX_TYPES:
        return []
    return [m["digest"] for m in obj.get("manifests") or [] if isinstance(m, dict) and m.get("digest")]


def plan_prune(client: RegistryClient, lock: dict, registry_name: str | None = None, keep=()) -> dict:
    """What a prune deletes: {"delete": [...], "kept_repositories": [...], "kept_tags": [...], "counts": {...}}.

    Each ``delete`` item: repository, digest, tags (the stale tags that name it; empty for a
    child manifest of a deleted index), media_type, kind (``manifest`` or ``child manifest``).
    ``kept_tags``: stale tags left in place because they name a digest the lock keeps.
    """
    locked: dict[str, dict[str, set]] = {}
    for entry in lock.get("images", []):
        repo, reference = target_for(entry["name"], client.registry, registry_name)
        slot = locked.setdefault(repo, {"tags": set(), "digests": set()})
        slot["digests"].add(entry["digest"])
        if not reference.startswith("sha256:"):
            slot["tags"].add(reference)
    delete: list[dict] = []
    skipped: list[str] = []
    kept_tags: list[dict] = []
    stale_tags = 0
    for repo in sorted(client.repositories()):
        if any(fnmatch.fnmatchcase(repo, pattern) for pattern in keep) or not is_mirror_repository(repo):
            skipped.append(repo)
            continue
        slot = locked.get(repo, {"tags": set(), "digests": set()})
        tag_digests: dict[str, tuple[str, str]] = {}
        for tag in client.tags(repo):
            found = client.manifest_digest(repo, tag)
            if found:
                tag_digests[tag] = found
        kept = set(slot["digests"]) | {d for t, (d, _mt) in tag_digests.items() if t in slot["tags"]}
        stale: dict[str, dict] = {}
        for tag, (digest, media_type) in sorted(tag_digests.items()):
            if tag in slot["tags"]:
                continue
            stale_tags += 1
            if digest in kept:
                # Another name of kept content: deleting the digest would delete that too.
                kept_tags.append({"repository": repo, "tag": tag, "digest": digest})
                continue
            item = stale.setdefault(
                digest, {"repository": repo, "digest": digest, "tags": [], "media_type": media_type, "kind": "manifest"}
            )
            item["tags"].append(tag)
        if not stale:
            continue
        kept_children: set[str] = set()
        for digest in kept:
            if client.manifest_digest(repo, digest) is not None:
                kept_children.update(_children(client, repo, digest))
        for digest, item in stale.items():
            delete.append(item)
            for child in _children(client, repo, digest):
                if child not in kept and child not in kept_children and child not in stale:
                    delete.append(
                        {"repository": repo, "digest": child, "tags": [], "media_type": None, "kind": "child manifest"}
                    )
    seen: set[tuple[str, str]] = set()
    unique = []
    for item in delete:
        key = (item["repository"], item["digest"])
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return {
        "delete": unique,
        "kept_repositories": skipped,
        "kept_tags": kept_tags,
        "counts": {
            "manifests": sum(1 for i in unique if i["kind"] == "manifest"),
            "child_manifests": sum(1 for i in unique if i["kind"] == "child manifest"),
            "stale_tags": stale_tags,
            "repositories": len({i["repository"] for i in unique}),
        },
    }


def apply_prune(client: RegistryClient, plan: dict) -> int:
    """Delete what ``plan`` lists, each index before its children; returns how many were deleted."""
    deleted = 0
    for item in plan["delete"]:
        try:
            gone = client.delete_manifest(item["repository"], item["digest"])
        except RegistryAuthError as exc:
            raise RegistryAuthError(
                f"{exc}; the prune's account needs the delete action on the mirror repositories "
                '(registry_accounts access rules, docs/images.md "Registry prune")',
                exc.status,
            ) from exc
        deleted += int(gone)
    return deleted
