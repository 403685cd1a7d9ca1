# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter ordering objects by kind for applying (docs in k8s_apply_order.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def k8s_apply_order(objects, kinds):
    """``objects`` grouped by kind in the order of ``kinds``, then the kinds ``kinds`` does not
    name in the order they first appear; within a kind, objects keep their order."""
    if not isinstance(objects, list):
        raise AnsibleFilterError(f"k8s_apply_order: expected a list of objects, got {type(objects).__name__}")
    if isinstance(kinds, (str, bytes)) or not isinstance(kinds, (list, tuple)):
        raise AnsibleFilterError(f"k8s_apply_order: kinds must be a list, got {type(kinds).__name__}")
    rank = {}
    for kind in list(kinds) + [obj.get("kind") if isinstance(obj, dict) else None for obj in objects]:
        rank.setdefault(kind, len(rank))
    # sorted() is stable: objects of one kind keep their order.
    return sorted(objects, key=lambda obj: rank[obj.get("kind") if isinstance(obj, dict) else None])


class FilterModule:
    """Apply order by kind."""

    def filters(self):
        return {"k8s_apply_order": k8s_apply_order}
