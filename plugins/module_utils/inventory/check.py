# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Everything the validation play checks, as pure functions that return messages.

The validate_inventory action gathers the inventory (each host's variables with where
they were set, the groups, the roles' argument specs, what the controller's disk holds)
into plain data and hands it to ``inventory_check``. Whatever shape a value has, the
result is a list of messages: nothing here raises on user data (tests fuzz it).

Every message names where the value is set (file:line when Ansible knows it, else the
host), the value, the rule and the fix.

The checks themselves live beside this file, one concern each; this one runs them all.
"""

from __future__ import annotations

from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.controller_paths import path_problems
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.domains import domain_problems
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.gathered import (
    AGENT_GROUP,
    SERVER_GROUP,
    as_mapping,
    cluster_reference,
    host_list,
    host_variable,
    kind,
    show,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.namespaces import namespace_problems
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.nodes import (
    group_problems,
    node_problems,
    node_removal_problems,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.pins import (
    architecture_problems,
    bundle_problems,
    version_problems,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.rules import address_problems
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.variables import variable_problems


def inventory_check(data) -> list[str]:
    """Check the gathered inventory; an empty list means valid. Never raises on the data.

    data:
      groups: {group: [host, ...]} as Ansible's `groups`
      hosts: {host: {variable: {value, origin, error, inventory}}} — the variables the validation
        looked at, templated (error: why templating failed), origin: where it is set ("file:line"),
        inventory: set by the inventory or -e (not a role default of the collection)
      options: {variable: {spec: <argument spec option>, owner: "role k3s" | ...}}
      prefixes: role names (and "gauntlet"): variables starting with one are checked by name
      required_services, required_versions: names that must be present
      paths: {gauntlet_credentials_dir|gauntlet_render_dir: {path, origin, kind, mode, files}}
    """
    if not isinstance(data, dict):
        return ["the validation received no inventory data (a bug in the validate_inventory action)"]
    problems: list[str] = []
    checks = (
        lambda: group_problems(as_mapping(data.get("groups"))),
        lambda: variable_problems(data),
        lambda: namespace_problems(data),
        lambda: _addresses_and_names(data),
        lambda: version_problems(data, cluster_reference(data)[0]),
        lambda: bundle_problems(data, cluster_reference(data)[0]),
        lambda: architecture_problems(data, cluster_reference(data)[0]),
        lambda: path_problems(as_mapping(data.get("paths"))),
        lambda: node_removal_problems(data),
    )
    for check in checks:
        try:
            problems.extend(check())
        except Exception as error:  # a bug here must still give a message
            problems.append(f"the validation itself failed on this inventory ({type(error).__name__}: {error})")
    unique = []
    for problem in problems:
        if problem not in unique:
            unique.append(problem)
    return unique


def _addresses_and_names(data: dict) -> list[str]:
    groups = as_mapping(data.get("groups"))
    reference, hosts = cluster_reference(data)
    problems = []
    network, _origin, network_error, _unused = host_variable(hosts, reference, "gauntlet_node_network")
    node_list, addresses = node_problems(groups, hosts, network if not network_error else None)
    problems.extend(node_list)
    problems.extend(domain_problems(data, reference, addresses))

    if reference is None:
        return problems

    def cluster_value(name):
        value, _origin, error, _set = host_variable(hosts, reference, name)
        return None if error else value

    ingress, _unused, ingress_error, ingress_set = host_variable(hosts, reference, "gauntlet_ingress_address")
    kube_vip = cluster_value("k3s_kube_vip")  # kube-vip on the servers (role k3s); unset: off
    summary = {
        "groups": {g: host_list(m) for g, m in groups.items() if isinstance(g, str)},
        "hosts": addresses,
        "server_group": SERVER_GROUP,
        "agent_group": AGENT_GROUP,
        "control_plane_address": cluster_value("gauntlet_control_plane_address") or "",
        "node_network": network if isinstance(network, str) and not network_error else "",
        # A value of another type is the type check's message; boolean() would raise on it.
        "kube_vip": boolean(kube_vip, strict=False) if isinstance(kube_vip, (str, bool, int)) else False,
        "kube_vip_interface": cluster_value("k3s_kube_vip_interface") or "",
    }
    if not ingress_error and host_list(groups.get(SERVER_GROUP)):
        summary["ingress_address"] = ingress if ingress_set else ""
    for key in ("control_plane_address", "ingress_address"):
        if key in summary and not isinstance(summary[key], str):
            problems.append(f"gauntlet_{key} = {show(summary[key])} is {kind(summary[key])}; set it to an IPv4 address")
            summary[key] = None if key == "ingress_address" else ""
    problems.extend(address_problems(summary))
    return problems
