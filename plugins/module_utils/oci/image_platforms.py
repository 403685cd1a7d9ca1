# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The platform filter of the bundle: carry only the platforms the nodes run.

``image_bundle`` with ``platforms`` (``playbooks/bundle.yml``: ``gauntlet_bundle_platforms``,
e.g. ``[linux/amd64, linux/arm64]``) keeps, of every image index, only the child manifests of
those platforms (and the attestation manifests that describe them) and stores a **reduced
index** in their place. Why a new index, not the upstream one without some children:

- an index's digest is the sha256 of its bytes (OCI image-spec ``descriptor.md``), so the
  upstream digest can only name the upstream bytes, which list every platform;
- distribution refuses an index whose children it does not hold: ``verifyManifest`` in
  ``registry/storage/manifestlisthandler.go`` answers ``MANIFEST_BLOB_UNKNOWN`` for every
  absent child, always in 2.8 (Debian's ``docker-registry``, the tests' registry) and by
  default in 3.x (``validation.manifests.indexes.platforms: all``; ``none``/``list`` are
  documented as experimental in ``docs/content/about/configuration.md``). Garbage collection
  and ``skopeo copy --all`` expect complete indexes as well.

So the reduced index is complete in itself, gets its own digest, and that digest is what the
lock records, what preload pushes under the tag and what pods are pinned to
(``k8s_pin_images``); the upstream digest is kept in the lock as ``upstream_digest``.
A reference pinned by digest (``name@sha256:...``) keeps its whole index: its digest is the
contract, and a reduced index could not be pulled by it.

Stdlib only.
"""

from __future__ import annotations

import json
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    ANNOTATION_REFERENCE_TYPE,
    ATTESTATION_MANIFEST,
    INDEX_TYPES,
    ContentError,
    descriptors,
    parse_manifest,
    platform_string,
    sha256_digest,
)

# BuildKit's attestation manifests name the platform manifest they describe here
# (moby/buildkit docs/attestations/attestation-storage.md).
ANNOTATION_REFERENCE_DIGEST = "vnd.docker.reference.digest"
# os/architecture[/variant] as the OCI image index writes them (image-spec image-index.md: platform.os,
# platform.architecture, platform.variant; values such as linux, amd64, arm64, v8).
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$")


def parse_platforms(values) -> list[str]:
    """The platform list, checked: ``os/architecture`` or ``os/architecture/variant``, lower case."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple)):
        raise ContentError(f"platforms must be a list such as [linux/amd64, linux/arm64], got {values!r}")
    out = []
    for value in values:
        if not isinstance(value, str) or not _PLATFORM.match(value):
            raise ContentError(
                f"platforms: {value!r} is not a platform; write os/architecture[/variant] in lower case, "
                "for example linux/amd64 or linux/arm64"
            )
        if value not in out:
            out.append(value)
    return out


def matches(platform: str | None, wanted: list[str]) -> bool:
    """True when ``platform`` (os/arch[/variant]) is one of ``wanted``; a wanted platform without a
    variant matches every variant (linux/arm64 matches linux/arm64/v8)."""
    if not platform:
        return False
    parts = platform.split("/")
    for item in wanted:
        want = item.split("/")
        if parts[: len(want)] == want:
            return True
    return False


def _missing(found: list[str], wanted: list[str]) -> list[str]:
    return [item for item in wanted if not any(matches(platform, [item]) for platform in found)]


def missing_platform_error(name: str, missing: list[str], found: list[str]) -> ContentError:
    return ContentError(
        f"image {name} has no manifest for {', '.join(missing)} (it has {', '.join(sorted(found)) or 'no platform'}): "
        "nodes of that architecture could not run it. Use an image published for every architecture of the "
        "inventory, or take the architecture out (the hosts' gauntlet_arch, or gauntlet_bundle_platforms)"
    )


def select_platforms(
    name: str, data: bytes, media_type: str | None, wanted: list[str], *, keep_all: bool = False
) -> tuple[bytes, str, list[str]]:
    """(bytes, digest, dropped platforms) of the top manifest of ``name`` reduced to ``wanted``.

    An index keeps the children whose platform matches, the attestation manifests of those
    children, and children without a platform (nothing to judge them by). Unchanged bytes (and
    the upstream digest) when nothing is dropped, when ``wanted`` is empty, for an image
    manifest (one platform, checked from its config by the caller) and with ``keep_all`` (a
    reference pinned by digest). A wanted platform the index lacks is an error.
    """
    digest = sha256_digest(data)
    where = f"image {name}"
    mt, obj = parse_manifest(data, media_type, where)
    if not wanted or mt not in INDEX_TYPES:
        return data, digest, []
    children = descriptors(obj, mt)
    kept_digests = set()
    found = []
    for child in children:
        annotations = child.get("annotations") or {}
        if annotations.get(ANNOTATION_REFERENCE_TYPE) == ATTESTATION_MANIFEST:
            continue
        platform = platform_string(child.get("platform"))
        if platform is None or platform == "unknown/unknown":
            kept_digests.add(child["digest"])
            continue
        found.append(platform)
        if matches(platform, wanted):
            kept_digests.add(child["digest"])
    missing = _missing(found, wanted)
    if missing:
        raise missing_platform_error(name, missing, found)
    if keep_all:
        return data, digest, []
    kept = []
    dropped = []
    for child in children:
        annotations = child.get("annotations") or {}
        if annotations.get(ANNOTATION_REFERENCE_TYPE) == ATTESTATION_MANIFEST:
            keep = annotations.get(ANNOTATION_REFERENCE_DIGEST) in kept_digests
        else:
            keep = child["digest"] in kept_digests
        if keep:
            kept.append(child)
        elif annotations.get(ANNOTATION_REFERENCE_TYPE) != ATTESTATION_MANIFEST:
            dropped.append(platform_string(child.get("platform")) or child["digest"])
    if len(kept) == len(children):
        return data, digest, []
    reduced = dict(obj)  # key order kept; compact, deterministic: the same upstream index gives the same digest
    reduced["manifests"] = kept
    body = json.dumps(reduced, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return body, sha256_digest(body), sorted(dropped)


def check_image_platform(name: str, platform: str | None, wanted: list[str]) -> None:
    """An image manifest (not an index) runs on the one platform its config names: every wanted
    platform must be that one (a config without os/architecture is not judged)."""
    missing = _missing([platform], wanted) if wanted and platform else []
    if missing:
        raise missing_platform_error(name, missing, [platform])
