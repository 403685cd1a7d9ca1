# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter that checks an inventory summary (docs in inventory_problems.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.rules import inventory_problems as _problems


def inventory_problems(summary):
    """Return the list of problems of an inventory summary; an empty list means valid."""
    if not isinstance(summary, dict):
        raise AnsibleFilterError("inventory_problems: expected a mapping with groups, hosts, domains and versions")
    return _problems(summary)


class FilterModule:
    """Inventory validation filter."""

    def filters(self):
        return {"inventory_problems": inventory_problems}
