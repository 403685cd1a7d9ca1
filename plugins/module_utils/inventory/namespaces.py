# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Each component's namespace is decided once, by the contract gauntlet_namespaces (role
gauntlet's defaults, contracts.yml): a role's own namespace variable defaults to its entry
(``default: "{{ gauntlet_namespaces.<entry> }}"`` in the role's argument spec) and every other
role's NetworkPolicies, URLs and checks read the entry. A site that sets the role's variable to
something else moves the component away from what the others name; it moves the entry instead.
"""

from __future__ import annotations

import re

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.gathered import (
    as_mapping,
    host_variable,
    origin_or_host,
    show,
)

CONTRACT = "gauntlet_namespaces"
_FOLLOWS = re.compile(r"^\{\{\s*" + CONTRACT + r"\.(\w+)\s*\}\}$")


def followers(options: dict) -> dict[str, str]:
    """{variable: the gauntlet_namespaces entry its argument spec defaults to}."""
    found = {}
    for name, option in options.items():
        default = as_mapping(as_mapping(option).get("spec")).get("default")
        match = _FOLLOWS.match(default) if isinstance(name, str) and isinstance(default, str) else None
        if match:
            found[name] = match.group(1)
    return found


def namespace_problems(data: dict) -> list[str]:
    """A role namespace variable the inventory sets apart from its gauntlet_namespaces entry."""
    hosts = as_mapping(data.get("hosts"))
    options = as_mapping(data.get("options"))
    follows = followers(options)
    problems = []
    for host in sorted(hosts, key=str):
        contract, _origin, error, _is_set = host_variable(hosts, host, CONTRACT)
        if error or not isinstance(contract, dict):
            continue
        for name, key in sorted(follows.items()):
            value, origin, error, is_set = host_variable(hosts, host, name)
            # Only what the inventory (or -e) sets: a role's own default follows the entry.
            from_role = as_mapping(hosts[host].get(name)).get("inventory") is False
            if error or not is_set or from_role or key not in contract or value == contract[key]:
                continue
            owner = as_mapping(options.get(name)).get("owner")
            problems.append(
                f"{origin_or_host(origin, host)}: {name} = {show(value)} differs from {CONTRACT}.{key} = "
                f"{show(contract[key])}, the namespace the other roles' NetworkPolicies, URLs and checks name: move it "
                f"there (the whole {CONTRACT} mapping) and remove {name}, which follows it"
                + (f" ({owner})" if isinstance(owner, str) and owner else "")
            )
    return problems
