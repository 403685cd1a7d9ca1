# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup: the computed image list of the platform."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bundle_images
short_description: The platform's image list, computed from the bundle's manifests plus the images no manifest names
description:
  - Returns the sorted, unique, normalised images of every object in the manifest files named (read from the
    bundle and checked against its lock), plus O(images) (operand, chart and pipeline images that no manifest
    names), plus every image listed one per line (C(#) comments allowed) in the O(lists) files.
  - C(playbooks/bundle.yml) pulls exactly this list; the render tests check that every image of every
    rendered object is in it.
options:
  manifests:
    description: Bundle file names of manifests whose images the platform runs.
    type: list
    elements: str
    default: []
  images:
    description: More image references.
    type: list
    elements: str
    default: []
  lists:
    description: Paths of text files with one image reference per line.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - gauntlet.platform.bundle_lookup
"""

RETURN = r"""
_list:
  description: Normalised image references (registry/repository:tag), sorted.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import (
    BundleFileError,
    bundle_file_path,
    load_manifest,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_list import (
    ImageListError,
    images_from_manifests,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, normalize_image
from ansible_collections.gauntlet.platform.plugins.plugin_utils.bundle_base import base_dir


def _listed(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise AnsibleLookupError(f"bundle_images: cannot read the image list {path}: {exc.strerror}") from None
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        # Options are read directly so the plugin also works outside the plugin loader.
        unknown = set(kwargs) - {"bundle_dir", "base_dir", "manifests", "images", "lists"}
        if unknown or not kwargs.get("bundle_dir"):
            raise AnsibleLookupError(
                f"bundle_images: needs bundle_dir; options are bundle_dir, base_dir, manifests, images, lists (got {sorted(kwargs)})"
            )
        bundle_dir = kwargs["bundle_dir"]
        base = base_dir(self, variables, kwargs)
        found = set()
        for name in kwargs.get("manifests") or []:
            try:
                found.update(images_from_manifests(load_manifest(bundle_file_path(bundle_dir, name, base))))
            except (BundleFileError, ImageListError) as exc:
                raise AnsibleLookupError(f"bundle_images: {name}: {exc}") from None
        for path in kwargs.get("lists") or []:
            found.update(self._normalized(_listed(path), path))
        found.update(self._normalized(kwargs.get("images") or [], "images"))
        return sorted(found)

    @staticmethod
    def _normalized(refs, where):
        try:
            return [normalize_image(ref) for ref in refs]
        except ImageRefError as exc:
            raise AnsibleLookupError(f"bundle_images: {where}: {exc}") from None
