# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The inventory's groups and nodes: the required groups and their members, every host's
node_ip, the k3s node names, and the node playbooks/remove-node.yml may remove."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.gathered import (
    AGENT_GROUP,
    CLUSTER_GROUP,
    REGISTRY_GROUP,
    REQUIRED_GROUPS,
    SERVER_GROUP,
    as_mapping,
    cluster_reference,
    host_list,
    host_variable,
    kind,
    origin_or_host,
    show,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.rules import (
    ipv4_problem,
    server_count_problem,
)

# Kubernetes node names: an RFC 1123 subdomain, lower case (k3s_node_name defaults to the
# inventory host name).
_NODE_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def group_problems(groups: dict) -> list[str]:
    """Groups: the required ones, the server count, one registry host, servers and agents."""
    problems = []
    for group in REQUIRED_GROUPS:
        if group not in groups:
            problems.append(
                f"group '{group}' is missing from the inventory: add it to hosts.yml (see inventory/sample/hosts.yml)"
            )
    servers = host_list(groups.get(SERVER_GROUP))
    agents = host_list(groups.get(AGENT_GROUP))
    if SERVER_GROUP in groups:
        why = server_count_problem(len(servers))
        if why:
            problems.append(f"group '{SERVER_GROUP}': {why}; add or remove servers in hosts.yml")
    registry = host_list(groups.get(REGISTRY_GROUP))
    if REGISTRY_GROUP in groups and len(registry) != 1:
        problems.append(
            f"group '{REGISTRY_GROUP}' must hold exactly one host (the registry host), "
            f"it holds {len(registry)}: put one host under '{REGISTRY_GROUP}' in hosts.yml"
        )
    for host in sorted(set(servers) & set(agents)):
        problems.append(
            f"host '{host}' is in both '{SERVER_GROUP}' and '{AGENT_GROUP}': a node is a server or an agent; "
            "remove it from one of the groups in hosts.yml"
        )
    if CLUSTER_GROUP in groups:
        cluster = set(host_list(groups.get(CLUSTER_GROUP)))
        for group, members in ((SERVER_GROUP, servers), (AGENT_GROUP, agents)):
            outside = sorted(set(members) - cluster)
            if outside:
                problems.append(
                    f"group '{group}' has hosts outside '{CLUSTER_GROUP}' ({', '.join(outside)}): the hosts stage "
                    f"prepares only '{CLUSTER_GROUP}', so they would never be prepared; make '{group}' a child of "
                    f"'{CLUSTER_GROUP}' in hosts.yml (see inventory/sample/hosts.yml)"
                )
    return problems


def node_problems(groups: dict, hosts: dict, node_network) -> tuple[list[str], dict]:
    """Every host's node_ip and every k3s node's name; returns (problems, {host: address})."""
    problems = []
    addresses = {}
    network = None
    if isinstance(node_network, str) and node_network:
        try:
            network = ipaddress.IPv4Network(node_network, strict=True)
        except ValueError:
            network = None  # reported by address_problems
    seen: dict[str, str] = {}
    for host in sorted(hosts, key=str):
        value, origin, error, is_set = host_variable(hosts, host, "node_ip")
        if error:
            continue  # reported with the other template errors
        if not is_set or value in (None, ""):
            problems.append(
                f"host '{host}': node_ip (or ansible_host) is not set; set ansible_host or node_ip to its IPv4 address"
            )
            continue
        where = origin_or_host(origin, host)
        if not isinstance(value, str):
            problems.append(
                f"{where}: node_ip of host '{host}' = {show(value)} is {kind(value)}; set it to the host's IPv4 address"
            )
            continue
        why = ipv4_problem(value)
        if why:
            problems.append(
                f"host '{host}': node_ip '{value}' is invalid ({why}); set node_ip to the host's IPv4 address"
                + (f" ({where})" if origin else "")
            )
            continue
        ip = ipaddress.IPv4Address(value)
        reason = None
        if ip.is_loopback:
            reason = "a loopback address: other hosts cannot reach it"
        elif ip.is_link_local:
            reason = "a link-local address: it changes with the interface and is not routed"
        elif ip.is_reserved:
            reason = "a reserved address"
        elif (
            network is not None
            and network.prefixlen < 31
            and ip in (network.network_address, network.broadcast_address)
        ):
            reason = f"the {'network' if ip == network.network_address else 'broadcast'} address of gauntlet_node_network {network}"
        if reason:
            problems.append(
                f"host '{host}': node_ip '{value}' is {reason}; set node_ip to the host's own address in the nodes' "
                f"network ({where})"
            )
            continue
        addresses[str(host)] = value
        if value in seen:
            problems.append(
                f"hosts '{seen[value]}' and '{host}' share the address {value}: give each host its own node_ip"
            )
        else:
            seen[value] = str(host)

    nodes = sorted(set(host_list(groups.get(SERVER_GROUP))) | set(host_list(groups.get(AGENT_GROUP))))
    for host in nodes:
        value, origin, error, is_set = host_variable(hosts, host, "k3s_node_name")
        name = value if is_set and not error else host
        if not isinstance(name, str):
            continue  # a type problem of k3s_node_name, reported by its spec
        if len(name) > 253 or not all(_NODE_LABEL.match(label) for label in name.split(".")):
            source = (
                f"k3s_node_name '{name}' of host '{host}' ({origin_or_host(origin, host)})"
                if is_set
                else f"host name '{host}'"
            )
            problems.append(
                f"{source} is not a valid Kubernetes node name (RFC 1123: lower-case letters, digits, '-' and '.', "
                "starting and ending with a letter or digit); rename the host in hosts.yml "
                "(e.g. " + (re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.") or "node-1") + ")"
            )
    return problems, addresses


# --- playbooks/remove-node.yml ----------------------------------------------------------------
def node_removal_problems(data: dict) -> list[str]:
    """gauntlet_remove_node (set with -e for playbooks/remove-node.yml): a k3s node of the
    inventory, and not the first server while other nodes joined through its address.

    Every other node's config.yaml names the join target, ``server: https://<k3s_api_address>:6443``
    (roles/k3s/vars/main.yml __k3s_join_url); k3s_api_address is gauntlet_control_plane_address when
    set, else the first server's node_ip (roles/k3s/defaults/main.yml). Removing the host behind it
    leaves every other node pointing at an address that no longer answers. Whether the cluster
    keeps its etcd quorum depends on the cluster's Nodes, checked by the playbook
    (filter k3s_node_removal).
    """
    groups = as_mapping(data.get("groups"))
    hosts = as_mapping(data.get("hosts"))
    reference, _unused = cluster_reference(data)
    if reference is None:
        return []
    value, origin, error, is_set = host_variable(hosts, reference, "gauntlet_remove_node")
    if not is_set or error or value in (None, ""):
        return []
    where = f" ({origin})" if origin else ""
    servers = host_list(groups.get(SERVER_GROUP))
    nodes = servers + host_list(groups.get(AGENT_GROUP))
    if not isinstance(value, str) or value not in nodes:
        return [
            f"gauntlet_remove_node = {show(value)}{where} is not a k3s node of the inventory (the hosts of "
            f"'{SERVER_GROUP}' and '{AGENT_GROUP}': {', '.join(nodes) or 'none'}); give the inventory name of the "
            "node to remove. Nothing was changed"
        ]
    if not servers or value != servers[0] or len(nodes) == 1:
        return []
    address, _origin, address_error, _set = host_variable(hosts, reference, "gauntlet_control_plane_address")
    if not address_error and isinstance(address, str) and address:
        return []
    others = [host for host in nodes if host != value]
    return [
        f"gauntlet_remove_node = '{value}'{where} is the first server of '{SERVER_GROUP}': {', '.join(others)} "
        f"joined the cluster through its address (config.yaml `server:`; k3s_api_address is the first server "
        "when gauntlet_control_plane_address is empty), so they would point at a node that is gone. Nothing was "
        "changed. Put a VIP or load balancer in front of the other servers, set gauntlet_control_plane_address to "
        "it and run playbooks/k3s.yml first (docs/k3s.md#high-availability), or remove the other nodes first"
    ]
