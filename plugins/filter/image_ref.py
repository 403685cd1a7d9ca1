# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters for container image references.

- ``normalize_image``: ``nginx`` -> ``docker.io/library/nginx:latest``
- ``image_parse``: a mapping with registry, repository, tag, digest, name, reference, full
- ``image_registry`` / ``image_repository`` / ``image_tag`` / ``image_digest``: one part
- ``image_mirror(local_registry)``: ``quay.io/x/y:1`` -> ``registry.local:5000/quay.io/x/y:1``
- ``image_registries``: the sorted unique registries of a list of images
- ``image_locked(lock)``: ``python:3.13`` -> ``docker.io/library/python@sha256:...``, the digest the
  bundle lock records for it (empty when the lock does not hold it)

Every filter raises AnsibleFilterError on a reference that does not parse.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


def _parse(value, filter_name):
    try:
        return parse_image(value)
    except ImageRefError as exc:
        raise AnsibleFilterError(f"{filter_name}: {exc}") from exc


def normalize_image(value):
    return str(_parse(value, "normalize_image"))


def image_parse(value):
    return _parse(value, "image_parse").as_dict()


def image_registry(value):
    return _parse(value, "image_registry").registry


def image_repository(value):
    return _parse(value, "image_repository").repository


def image_tag(value):
    return _parse(value, "image_tag").tag


def image_digest(value):
    return _parse(value, "image_digest").digest


@filter_errors(ImageRefError)
def image_mirror(value, local_registry):
    ref = _parse(value, "image_mirror")
    return str(ref.mirror(local_registry))


def image_registries(values):
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise AnsibleFilterError(f"image_registries: expected a list of image references, got {type(values).__name__}")
    return sorted({_parse(v, "image_registries").registry for v in values})


def image_locked(value, lock):
    # By name and digest only: the tag beside a digest is ignored by some pullers and refused by
    # others, and the digest is what the bundle pulled, locked and preload pushed.
    ref = _parse(value, "image_locked")
    if lock in (None, "", {}):
        return ""
    if not isinstance(lock, dict) or not isinstance(lock.get("images", []), list):
        raise AnsibleFilterError("image_locked: the lock must be the bundle lock's JSON object (with an images list)")
    for entry in lock.get("images", []):
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and str(_parse(name, "image_locked")) == str(ref):
            digest = str(entry.get("digest", ""))
            if not digest.startswith("sha256:"):
                raise AnsibleFilterError(f"image_locked: bundle lock image {name} has no sha256 digest")
            return f"{ref.name}@{digest}"
    return ""


class FilterModule:
    """Image reference filters."""

    def filters(self):
        return {
            "normalize_image": normalize_image,
            "image_parse": image_parse,
            "image_registry": image_registry,
            "image_repository": image_repository,
            "image_tag": image_tag,
            "image_digest": image_digest,
            "image_mirror": image_mirror,
            "image_registries": image_registries,
            "image_locked": image_locked,
        }
