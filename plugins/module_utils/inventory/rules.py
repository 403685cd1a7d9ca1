# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Rules a cluster inventory must satisfy before any host is touched.

Pure functions returning lists of messages, so the validation play can show every
problem at once and tests can check each rule without Ansible.
"""

from __future__ import annotations

import ipaddress
import re

# RFC 1123 host name: labels of letters, digits and inner hyphens, 1..63 characters,
# 253 characters in all. Underscores are not allowed (browsers and TLS reject them).
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def domain_problem(name) -> str | None:
    """Return why `name` is not a valid RFC 1123 DNS name, or None when it is."""
    if not isinstance(name, str) or not name:
        return "it is empty or not a string"
    if len(name) > 253:
        return "it is longer than 253 characters"
    for label in name.rstrip(".").split("."):
        if not label:
            return "it has an empty label (two dots in a row)"
        if "_" in label:
            return "underscores are not allowed; use a hyphen"
        if label.startswith("-") or label.endswith("-"):
            return f"label '{label}' starts or ends with a hyphen"
        if not _LABEL.match(label):
            return f"label '{label}' may only hold letters, digits and inner hyphens (at most 63 characters)"
    return None


def ipv4_problem(address) -> str | None:
    """Return why `address` is not a usable IPv4 host address, or None when it is."""
    try:
        ip = ipaddress.IPv4Address(str(address))
    except ipaddress.AddressValueError:
        return "it is not an IPv4 address"
    if ip.is_unspecified or ip.is_multicast or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "it is not a host address"
    return None


def server_count_problem(count: int) -> str | None:
    """k3s embedded etcd needs a quorum: one server, or an odd number of at least three."""
    if count == 1 or (count >= 3 and count % 2 == 1):
        return None
    if count == 0:
        return "there are no k3s servers"
    return f"there are {count} k3s servers; embedded etcd needs 1 or an odd number >= 3"


def unicast_problem(address: str) -> str | None:
    """Why `address` (a valid IPv4 address) cannot be a VIP or load balancer address, or None."""
    ip = ipaddress.IPv4Address(address)
    for test, what in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"), "not a host address"),
        (ip.is_reserved, "a reserved address"),
    ):
        if test:
            return what
    return None


# What `ip link add` accepts as an interface name on Linux (checked there: IFNAMSIZ 16 with the
# terminating NUL, so 1..15 characters; no '/', ':' or white space; not '.' or '..').
_INTERFACE = re.compile(r"^[^/:\s]{1,15}$")


def interface_problem(name) -> str | None:
    """Why `name` cannot be a Linux network interface name, or None when it can."""
    if not isinstance(name, str) or not name:
        return "it is empty or not a string"
    if name in (".", "..") or not _INTERFACE.match(name):
        return "an interface name has 1 to 15 characters without '/', ':' or spaces (like eth0, ens18, bond0.10)"
    return None


def kube_vip_problems(inventory: dict) -> list[str]:
    """Rules for a control-plane address held by kube-vip (k3s_kube_vip, docs/k3s.md#kube-vip).

    kube-vip announces the address with ARP from the server that leads its election, so it must be
    an address of its own (gauntlet_control_plane_address, checked by address_problems: valid
    unicast IPv4, no host's, inside gauntlet_node_network when that is set), and not one the
    inventory already uses for something else: the ingress address is held by another speaker (a
    node or an outside VIP), so the two would answer ARP for the same address. Whether the address
    is free and in the servers' subnet on the wire is checked on the servers before kube-vip is
    deployed (module vip_address_info).
    """
    if inventory.get("kube_vip") is not True:
        return []
    problems = []
    address = inventory.get("control_plane_address")
    if not address:
        problems.append(
            "k3s_kube_vip is true but gauntlet_control_plane_address is empty: kube-vip needs the virtual address it "
            "announces; set gauntlet_control_plane_address (group_vars/all/platform.yml) to a free IPv4 address in "
            "the servers' subnet, or set k3s_kube_vip: false"
        )
    elif isinstance(address, str) and address == inventory.get("ingress_address"):
        problems.append(
            f"gauntlet_control_plane_address '{address}' is also gauntlet_ingress_address: kube-vip (k3s_kube_vip) "
            "announces it from the API's leader for 6443 only, and whatever holds the ingress address would answer "
            "for it too; give the control plane its own free address"
        )
    interface = inventory.get("kube_vip_interface")
    if interface not in (None, ""):
        why = interface_problem(interface)
        if why:
            problems.append(
                f"k3s_kube_vip_interface '{interface}' is not a network interface name ({why}); set it to the "
                "servers' interface in the nodes' subnet (`ip -br addr` on a server), or leave it empty for the "
                "interface of the default route"
            )
    return problems


def address_problems(inventory: dict) -> list[str]:
    """Rules for the addresses of a highly available cluster (docs/k3s.md#high-availability).

    - gauntlet_control_plane_address (optional; empty = the first server): an existing VIP or
      load balancer in front of every server's 6443, so it is no host's own address;
    - gauntlet_ingress_address: either a k3s node's address (ServiceLB answers 80/443 on every
      k3s node; no HA then) or a VIP / load balancer that is no host's own address;
    - a VIP is a usable unicast IPv4 address; when gauntlet_node_network is set, it lies in
      that network and is not its network or broadcast address, and so does every node_ip.
    """
    problems: list[str] = []
    hosts = inventory.get("hosts") or {}
    groups = inventory.get("groups") or {}
    k3s_nodes = set(groups.get(inventory.get("server_group", "k3s_servers"), [])) | set(
        groups.get(inventory.get("agent_group", "k3s_agents"), [])
    )
    owner = {str(address): host for host, address in sorted(hosts.items()) if address not in (None, "")}

    network = None
    raw_network = inventory.get("node_network") or ""
    if raw_network:
        try:
            network = ipaddress.IPv4Network(str(raw_network), strict=True)
        except ValueError:
            problems.append(
                f"gauntlet_node_network '{raw_network}' is not a network in CIDR form; "
                "write it like 192.168.56.0/24 (host bits zero), or leave it empty"
            )
        else:
            for host in sorted(hosts):
                address = hosts[host]
                valid = address not in (None, "") and ipv4_problem(address) is None
                if valid and ipaddress.IPv4Address(str(address)) not in network:
                    problems.append(
                        f"host '{host}': node_ip {address} is outside gauntlet_node_network {network}; "
                        "fix the node_ip or the network"
                    )

    kube_vip = inventory.get("kube_vip") is True
    problems.extend(kube_vip_problems(inventory))
    checks = []
    if inventory.get("ingress_address") is not None:  # None: no server to default to (reported above)
        checks.append(("gauntlet_ingress_address", inventory.get("ingress_address"), "80/443 of the k3s nodes", True))
    if inventory.get("control_plane_address"):
        checks.append(
            ("gauntlet_control_plane_address", inventory["control_plane_address"], "6443 of every server", False)
        )
    for variable, address, ports, node_allowed in checks:
        if address in (None, ""):
            problems.append(
                f"{variable} is empty: set it to the first server's node_ip or to a VIP in front of {ports}"
            )
            continue
        address = str(address)
        host = owner.get(address)
        if host is not None:
            if node_allowed and host in k3s_nodes:
                continue
            if node_allowed:
                problems.append(
                    f"{variable} '{address}' is the address of host '{host}', which is not a k3s node: Traefik does "
                    "not answer there; use a k3s node's node_ip or a VIP / load balancer in front of "
                    f"{ports}"
                )
            else:
                problems.append(
                    f"{variable} '{address}' is the address of host '{host}': a VIP or load balancer address "
                    f"belongs to no host; give the address in front of {ports}, or leave it empty for the first server"
                )
            continue
        why = ipv4_problem(address)
        if why:
            problems.append(
                f"{variable} '{address}' is invalid ({why}); set it to the IPv4 address in front of {ports}"
            )
            continue
        why = unicast_problem(address)
        if why:
            problems.append(
                f"{variable} '{address}' is {why}: the nodes and the controller cannot reach a VIP there; "
                f"set it to the IPv4 address in front of {ports}"
            )
            continue
        if network is not None:
            ip = ipaddress.IPv4Address(address)
            if ip not in network:
                problems.append(
                    f"{variable} '{address}' is outside gauntlet_node_network {network}: a VIP must be in the "
                    + (
                        "servers' subnet, where kube-vip announces it with ARP (k3s_kube_vip); pick a free address "
                        f"in {network}"
                        if kube_vip and variable == "gauntlet_control_plane_address"
                        else "nodes' subnet (leave gauntlet_node_network empty for a load balancer in another network)"
                    )
                )
            elif network.prefixlen < 31 and ip in (network.network_address, network.broadcast_address):
                kind = "network" if ip == network.network_address else "broadcast"
                problems.append(
                    f"{variable} '{address}' is the {kind} address of gauntlet_node_network {network}; "
                    "pick a free host address for the VIP"
                )
    return problems


def controller_resolution_problems(entries: list, resolved: dict) -> list[str]:
    """The controller must resolve every local domain to the address that serves it.

    entries: [{"address": ..., "names": [...]}] as hosts_entries builds them (the hosts block)
    resolved: {name: [IPv4 address, ...]} as the controller's resolver answers (ipv4_addresses lookup)

    Returns [] when every name resolves to (at least) its address, else one message that
    names each wrong name, prints the hosts lines that fix it and the other way to fix it.
    """
    wrong = []
    for entry in entries:
        for name in entry["names"]:
            got = list(resolved.get(name) or [])
            if entry["address"] not in got:
                wrong.append(f"{name} -> {', '.join(got) if got else 'nothing'} (wanted {entry['address']})")
    if not wrong:
        return []
    lines = "\n".join(f"      {entry['address']} {' '.join(entry['names'])}" for entry in entries)
    return [
        "the controller does not resolve the platform's local domains, and this run calls them from here "
        "(Keycloak's admin API, health checks, git pushes to Gitea, verify): "
        + "; ".join(wrong)
        + ". Fix it in one of two ways:\n"
        + "  1. add these lines to the controller's /etc/hosts (or serve them from its DNS):\n"
        + lines
        + "\n  2. or set local_domains_manage_controller: true (group_vars/all/domains.yml): the hosts stage then "
        "writes these lines into the controller's /etc/hosts, with sudo on the controller"
    ]


def inventory_problems(inventory: dict) -> list[str]:
    """Check a summary of the inventory and return one actionable message per problem.

    `inventory` holds:
      groups: {name: [host, ...]} as Ansible's `groups`
      hosts: {host: address} — the address each host uses in the cluster (node_ip)
      domains: {service: domain}
      versions: {component: version}
      required_groups, required_versions: names that must be present
      server_group, registry_group, agent_group: group names with special rules
      ingress_address, control_plane_address, node_network (optional): see address_problems
      kube_vip (bool), kube_vip_interface (optional): see kube_vip_problems
      controller (optional): {"entries": hosts entries, "resolved": {name: [address]}} to check
        what the controller resolves the local domains to (controller_resolution_problems)
    """
    problems: list[str] = []
    groups = inventory.get("groups") or {}
    hosts = inventory.get("hosts") or {}
    server_group = inventory.get("server_group", "k3s_servers")
    registry_group = inventory.get("registry_group", "registry")

    for group in inventory.get("required_groups", []):
        if group not in groups:
            problems.append(
                f"group '{group}' is missing from the inventory: add it to hosts.yml (see inventory/sample/hosts.yml)"
            )

    if server_group in groups:
        why = server_count_problem(len(groups[server_group]))
        if why:
            problems.append(f"group '{server_group}': {why}; add or remove servers in hosts.yml")

    registry_hosts = groups.get(registry_group, [])
    if registry_group in groups and len(registry_hosts) != 1:
        problems.append(
            f"group '{registry_group}' must hold exactly one host (the registry host), "
            f"it holds {len(registry_hosts)}: put one host under '{registry_group}' in hosts.yml"
        )

    seen: dict[str, str] = {}
    for host in sorted(hosts):
        address = hosts[host]
        if address in (None, ""):
            problems.append(f"host '{host}': node_ip (or ansible_host) is not set; set node_ip to its IPv4 address")
            continue
        why = ipv4_problem(address)
        if why:
            problems.append(
                f"host '{host}': node_ip '{address}' is invalid ({why}); set node_ip to the host's IPv4 address"
            )
            continue
        if address in seen:
            problems.append(
                f"hosts '{seen[address]}' and '{host}' share the address {address}: give each host its own node_ip"
            )
        else:
            seen[address] = host

    domains = inventory.get("domains") or {}
    owner: dict[str, str] = {}
    for service in sorted(domains):
        domain = domains[service]
        why = domain_problem(domain)
        if why:
            problems.append(
                f"local_domains_services.{service} = '{domain}' is not a valid domain ({why}); "
                f"use a name like '{service}.local'"
            )
        elif domain.lower() in owner:
            problems.append(
                f"local_domains_services.{service} and .{owner[domain.lower()]} both use '{domain}': give each service its own name"
            )
        else:
            owner[domain.lower()] = service

    versions = inventory.get("versions") or {}
    for component in inventory.get("required_versions", []):
        if not versions.get(component):
            problems.append(
                f"gauntlet_versions.{component} is not set: the collection pins it "
                "(roles/gauntlet/defaults/main/versions.yml); an inventory changes one version with "
                "gauntlet_version_overrides"
            )

    problems.extend(address_problems(inventory))

    controller = inventory.get("controller")
    if controller:
        problems.extend(
            controller_resolution_problems(controller.get("entries") or [], controller.get("resolved") or {})
        )
    return problems
