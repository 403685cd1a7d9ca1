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
    the patch replaces the object's list. A patch naming no object is ignored.
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
    return [
        merge_hash(obj, patches[key], recursive=True) if key in patches else obj
        for key, obj in index.items()
        if key not in dropped
    ]


class FilterModule:
    """Patches by kind/name."""

    def filters(self):
        return {"k8s_patch_objects": k8s_patch_objects}
