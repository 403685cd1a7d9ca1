# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The verify row "images": every running container's image digest is in the bundle lock.

Two halves, both pure and stdlib only:

- ``lock_digests`` (run by the module ``bundle_image_digests_info`` on the controller):
  every digest a node may report for an image of the bundle lock. The lock records
  each image by the digest it was pulled at (an index for multi-arch images, else a
  manifest: plugins/module_utils/bundle/lock.py); the bundle's OCI layout holds that
  index, so its platform manifests and their configs are read from there.
- ``images_row`` (the filter ``verify_images``): the Pods' ``imageID`` of every container,
  init and ephemeral container against those digests.

What a node reports as ``imageID`` (kubelet copies the CRI ``ContainerStatus.image_ref``):
containerd's CRI plugin reports the image's first repo digest, ``<name>@sha256:<digest of
what was pulled>``, which is the index digest when the image was pulled by an index and
the manifest digest when one platform was pulled or imported; without a repo digest it
reports the image ID, ``sha256:<config digest>``. Docker's shim prefixed
``docker-pullable://``. All three forms are matched here.
"""

from __future__ import annotations

import re

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    INDEX_TYPES,
    ContentError,
    descriptors,
    parse_manifest,
    platform_string,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import (
    FAIL,
    OK,
    VerifyInputError,
    limited,
    make_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import task_error

CHECK = "images"
TARGET = "running containers"
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")

# -- the lock's digests (controller side) ---------------------------------------------


def _find_source(sources: list, digest: str):
    for source in sources:
        try:
            if source.has_blob(digest):
                return source
        except (OSError, ContentError):
            continue
    return None


def _add(digests: dict, digest: str, image: str, kind: str) -> None:
    # An index and a platform image of another lock entry can share a digest: keep the first.
    digests.setdefault(digest, {"image": image, "kind": kind})


def _config_of(source, digest: str, media_type: str | None, where: str) -> str | None:
    """The config digest of an image manifest held by ``source``, or None."""
    if source is None or not source.has_blob(digest):
        return None
    kind, manifest = parse_manifest(source.read_blob(digest, where), media_type, where)
    if kind in INDEX_TYPES:
        return None
    return (manifest.get("config") or {}).get("digest")


def lock_digests(lock: dict, sources: list) -> dict:
    """Every digest of the lock's images a node may report, from the lock and the bundle sources.

    Returns ``{"digests": {digest: {"image", "kind"}}, "images": <count>, "notes": [...]}``;
    ``kind`` is ``index``, ``manifest``, ``platform linux/amd64`` or ``config linux/amd64``.
    ``sources`` are opened BundleSource objects (OCI layouts or archives); an image whose
    index none of them holds is known by its locked digest only, and a note says so.
    """
    if not isinstance(lock, dict) or not isinstance(lock.get("images"), list):
        raise VerifyInputError("expected a bundle lock with an images list")
    digests: dict = {}
    unread = []
    for entry in lock["images"]:
        name, digest = entry["name"], entry["digest"]
        media_type = entry.get("media_type")
        source = _find_source(sources, digest)
        if source is None:
            _add(digests, digest, name, "index" if media_type in INDEX_TYPES else "manifest")
            if media_type in INDEX_TYPES or media_type is None:
                unread.append(name)
            continue
        where = f"{name} ({digest})"
        kind, manifest = parse_manifest(source.read_blob(digest, where), media_type, where)
        if kind not in INDEX_TYPES:
            _add(digests, digest, name, "manifest")
            config = (manifest.get("config") or {}).get("digest")
            if config:
                _add(digests, config, name, "config")
            continue
        _add(digests, digest, name, "index")
        for child in descriptors(manifest, kind):
            platform = platform_string(child.get("platform")) or "unknown platform"
            if (child.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest":
                continue  # an attestation, never run
            _add(digests, child["digest"], name, f"platform {platform}")
            config = _config_of(_find_source(sources, child["digest"]), child["digest"], child.get("mediaType"), where)
            if config:
                _add(digests, config, name, f"config {platform}")
    notes = []
    if unread:
        notes.append(
            f"{len(unread)} image(s) of the lock not found in the bundle's image folders, known by their locked "
            f"digest only (a node running a platform image of them is reported as not in the lock): "
            f"{', '.join(sorted(unread)[:5])}{' ...' if len(unread) > 5 else ''}"
        )
    return {"digests": digests, "images": len(lock["images"]), "notes": notes}


# -- the row (filter side) --------------------------------------------------------------


def parse_image_id(image_id: str) -> tuple[str, str | None]:
    """(name, digest) of a container status' ``imageID``; digest None when it holds none.

    ``docker.io/library/nginx@sha256:..`` -> (``docker.io/library/nginx``, ``sha256:..``);
    ``sha256:..`` (an image ID: the config digest) -> (``""``, ``sha256:..``); a
    ``docker-pullable://`` or other ``scheme://`` prefix is dropped.
    """
    text = str(image_id or "").strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    name, _unused, digest = text.rpartition("@")
    if _DIGEST.fullmatch(digest):
        return name, digest
    return text, None


def _statuses(pod: dict) -> list[tuple[str, dict]]:
    status = pod.get("status") or {}
    out = []
    for key, label in (
        ("initContainerStatuses", "init container "),
        ("containerStatuses", ""),
        ("ephemeralContainerStatuses", "ephemeral container "),
    ):
        for cs in status.get(key) or []:
            if isinstance(cs, dict):
                out.append((label, cs))
    return out


def _waiting(cs: dict) -> str:
    waiting = (cs.get("state") or {}).get("waiting") or {}
    reason = waiting.get("reason")
    return f" ({reason})" if reason else ""


def images_row(pods_result, digests_result, unlocked=None, ignore=None) -> dict:
    """Every container of every pod runs an image whose digest is in the bundle lock.

    pods_result: registered ``kubernetes.core.k8s_info`` of every Pod; digests_result:
    registered ``bundle_image_digests_info``; unlocked: regular expressions on the image
    name (the container's ``image`` or the name in its ``imageID``) of images that cannot be
    in the lock's image list and are accepted by name (k3s's own images, from its airgap
    tarball; images built on site); ignore: regular expressions on ``namespace/pod``.

    FAIL names each container whose digest is not in the lock; a container without an
    ``imageID`` yet (still pulling, or its pull failing) is pending, never a pass.
    """
    error = task_error(pods_result, expect="resources")
    if error:
        return make_row(CHECK, TARGET, FAIL, error)
    error = task_error(digests_result, expect="digests")
    if error:
        return make_row(CHECK, TARGET, FAIL, f"the bundle lock's digests are unknown: {error}")
    digests = digests_result.get("digests") or {}
    if not digests:
        return make_row(CHECK, TARGET, FAIL, "the bundle lock lists no image: rebuild the bundle")
    try:
        unlocked_patterns = [re.compile(p) for p in (unlocked or [])]
        ignore_patterns = [re.compile(p) for p in (ignore or [])]
    except re.error as exc:
        raise VerifyInputError(
            f"verify_images_unlocked and verify_images_ignore must be regular expressions: {exc}"
        ) from exc
    pods = pods_result.get("resources") or []
    if not pods:
        return make_row(CHECK, TARGET, FAIL, "the cluster runs no pod at all")
    locked = 0
    by_name = {}
    bad = []
    pending = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        pod_name = f"{meta.get('namespace')}/{meta.get('name')}"
        if any(p.search(pod_name) for p in ignore_patterns):
            continue
        for label, cs in _statuses(pod):
            where = f"{pod_name} {label}{cs.get('name')}"
            image = str(cs.get("image") or "")
            image_id = str(cs.get("imageID") or "")
            if not image_id:
                pending.append(f"{where}: {image or 'image unknown'}: no image digest yet{_waiting(cs)}")
                continue
            id_name, digest = parse_image_id(image_id)
            if digest in digests:
                locked += 1
                continue
            if any(p.search(image) or (id_name and p.search(id_name)) for p in unlocked_patterns):
                by_name[image or id_name] = by_name.get(image or id_name, 0) + 1
                continue
            if digest is None:
                bad.append(f"{where}: {image}: image ID {image_id!r} holds no sha256 digest")
            else:
                bad.append(f"{where}: {image} runs {digest}, not in the bundle lock")
    checked = locked + sum(by_name.values())
    total = checked + len(bad) + len(pending)
    notes = list(digests_result.get("notes") or [])
    if by_name:
        notes.append(
            f"{sum(by_name.values())} accepted by name (verify_images_unlocked): "
            + ", ".join(f"{name} x{count}" if count > 1 else name for name, count in sorted(by_name.items()))
        )
    if bad:
        lines = [
            f"{len(bad)} of {total} containers run an image whose digest is not in the bundle lock "
            "(pulled from outside the bundle: is k3s_disable_default_registry_endpoint off, or was the "
            "image pushed to the registry by hand?)",
            *limited(bad),
        ]
        if pending:
            lines.append(f"{len(pending)} more pending, without an image digest yet:")
            lines.extend(limited(pending, 5))
        return make_row(CHECK, TARGET, FAIL, lines + notes)
    if pending:
        return make_row(
            CHECK,
            TARGET,
            FAIL,
            [
                f"{len(pending)} of {total} containers pending: no image digest yet (still pulling, or the pull "
                "fails: see the pods row); verify again once they run",
                *limited(pending),
                *notes,
            ],
        )
    if not total:
        return make_row(CHECK, TARGET, FAIL, "no container status to judge: every pod is ignored or has none")
    return make_row(
        CHECK, TARGET, OK, [f"all {total} containers run images of the bundle lock ({locked} by digest)", *notes]
    )
