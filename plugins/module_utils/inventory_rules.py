# -*- coding: utf-8 -*-
# Copyright: Cloud Native Gauntlet developers
# Apache License 2.0
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
      server_group, registry_group: group names with special rules
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
                f"gauntlet_versions.{component} is not set: pin it in group_vars/all/versions.yml "
                "(see inventory/sample/group_vars/all/versions.yml)"
            )

    controller = inventory.get("controller")
    if controller:
        problems.extend(
            controller_resolution_problems(controller.get("entries") or [], controller.get("resolved") or {})
        )
    return problems
