# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter merging patches into objects by kind/name (docs in k8s_patch_objects.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.utils.vars import merge_hash


def k8s_patch_objects(index, patches, drop=None):
    """The objects of ``index`` (``{'Kind/name': object}``), in its order, without the keys in
    ``drop``, each merged with ``patches['Kind/name']`` when there is one.

    The merge is Ansible's ``combine(recursive=true)``: mappings merge key by key, a list in
    the patch replaces the object's list. A patch naming no object (or a dropped one) is an
    error: an upstream rename must not drop a setting silently.
    """
    if not isinstance(index, Mapping):
        raise AnsibleFilterError(
            f"k8s_patch_objects: expected a mapping of objects by kind/name, got {type(index).__name__}"
        )
    if not isinstance(patches, Mapping):
        raise AnsibleFilterError(
            f"k8s_patch_objects: patches must be a mapping by kind/name, got {type(patches).__name__}"
        )
    dropped = set(drop or [])
    # A patch must land: an upstream rename would otherwise drop it without a word (the rule
    # k8s_overlay keeps for the other roles' overlays).
    for key in patches:
        if key not in index:
            raise AnsibleFilterError(
                f"k8s_patch_objects: the patch for {key} names no object of that kind and name upstream; "
                "the upstream manifest changed: update the patch to the object's new name"
            )
        if key in dropped:
            raise AnsibleFilterError(f"k8s_patch_objects: {key} is patched but is also dropped; keep one of the two")
    return [
        merge_hash(obj, patches[key], recursive=True) if key in patches else obj
        for key, obj in index.items()
        if key not in dropped
    ]


class FilterModule:
    """Patches by kind/name."""

    def filters(self):
        return {"k8s_patch_objects": k8s_patch_objects}
