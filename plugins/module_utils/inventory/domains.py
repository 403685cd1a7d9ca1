# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The local domains of the services (local_domains_services) and the services served from a
host's own address (local_domains_direct), checked on the controller."""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.gathered import (
    as_mapping,
    as_str_list,
    host_variable,
    kind,
    origin_or_host,
    show,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.rules import domain_problem, ipv4_problem


def domain_problems(data: dict, reference, addresses: dict) -> list[str]:
    """local_domains_services and local_domains_direct, checked on the controller."""
    hosts = as_mapping(data.get("hosts"))
    problems = []
    services, origin, error, is_set = host_variable(hosts, reference, "local_domains_services")
    if error:
        return []
    if not is_set:
        return [
            "local_domains_services is not set: every service needs its domain; copy "
            "inventory/sample/group_vars/all/domains.yml into the inventory's group_vars/all/"
        ]
    where = origin_or_host(origin, reference)
    if not isinstance(services, dict):
        return []  # its spec (role local_domains) reports the shape
    host_names = {str(host).lower(): str(host) for host in hosts}
    owner: dict[str, str] = {}
    for service in sorted(services, key=str):
        domain = services[service]
        why = domain_problem(domain)
        if why:
            problems.append(
                f"local_domains_services.{service} = {show(domain)} is not a valid domain ({why}); "
                f"use a name like '{service}.local' ({where})"
            )
            continue
        normal = domain.lower().rstrip(".")
        if normal in owner:
            problems.append(
                f"local_domains_services.{service} and .{owner[normal]} both use '{normal}' (case and a trailing dot "
                f"do not make names different): give each service its own name ({where})"
            )
            continue
        owner[normal] = str(service)
        if normal == "localhost" or normal.endswith(".localhost"):
            problems.append(
                f"local_domains_services.{service} = '{domain}' is localhost, which always resolves to the machine "
                f"itself: use a name like '{service}.local' ({where})"
            )
        elif ipv4_problem(normal) is None or re.fullmatch(r"[\d.]+", normal):
            problems.append(
                f"local_domains_services.{service} = '{domain}' is an IP address, not a name: use a name like "
                f"'{service}.local'; the address comes from gauntlet_ingress_address ({where})"
            )
        elif normal in host_names:
            problems.append(
                f"local_domains_services.{service} = '{domain}' is the name of host '{host_names[normal]}': the "
                f"managed hosts block would send that host's name to the ingress; use a name like '{service}.local' "
                f"({where})"
            )
    for service in as_str_list(data.get("required_services")):
        if service not in services:
            problems.append(
                f"local_domains_services has no '{service}': the roles need a domain for it; add "
                f"'{service}: {service}.local' ({where})"
            )

    direct, direct_origin, error, is_set = host_variable(hosts, reference, "local_domains_direct")
    if is_set and not error and isinstance(direct, dict):
        direct_where = origin_or_host(direct_origin, reference)
        for service in sorted(direct, key=str):
            if service not in services:
                problems.append(
                    f"local_domains_direct.{service} names a service without a domain: add it to "
                    f"local_domains_services or drop it ({direct_where})"
                )
            address = direct[service]
            why = ipv4_problem(address) if isinstance(address, str) else f"it is {kind(address)}"
            if why:
                problems.append(
                    f"local_domains_direct.{service} = {show(address)} is invalid ({why}); set it to the IPv4 "
                    f"address that serves the service, e.g. the registry host's node_ip ({direct_where})"
                )
            elif ipaddress.IPv4Address(address).is_loopback:
                problems.append(
                    f"local_domains_direct.{service} = '{address}' is a loopback address: the other hosts cannot "
                    f"reach it; use the node_ip of the host that serves it ({direct_where})"
                )
            elif addresses and address not in addresses.values():
                problems.append(
                    f"local_domains_direct.{service} = '{address}' is no host's node_ip: the service is served by a "
                    f"host of the inventory; use that host's node_ip ({direct_where})"
                )
    return problems
