# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Turn the map of service domains into hosts entries.

One source for every place that resolves the local domains: /etc/hosts on the
nodes and the controller, and CoreDNS (coredns-custom) inside the cluster.
"""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.rules import domain_problem, ipv4_problem


class HostsEntriesError(ValueError):
    """The domains or addresses cannot make a consistent hosts table."""


def build_hosts_entries(services: dict, ingress_address: str, direct: dict | None = None) -> list[dict]:
    """Map every service domain to the address that serves it.

    services: {service: domain}, e.g. {"gitea": "gitea.local", "registry": "registry.local"}
    ingress_address: where Traefik answers; every service not in `direct` goes there
    direct: {service: address} for services that bypass the ingress (the registry host)

    Returns [{"address": ..., "names": [...]}] sorted by address, names sorted, each
    address once, so the rendered block is stable from run to run.
    """
    if not isinstance(services, dict) or not services:
        raise HostsEntriesError("local_domains_services must be a non-empty mapping of service name to domain")
    direct = direct or {}
    if not isinstance(direct, dict):
        raise HostsEntriesError("the direct addresses must be a mapping of service name to IPv4 address")

    unknown = sorted(set(direct) - set(services))
    if unknown:
        raise HostsEntriesError(
            f"direct addresses name services without a domain: {', '.join(unknown)}; "
            "add them to local_domains_services or drop them"
        )

    by_address: dict[str, set[str]] = {}
    owner: dict[str, str] = {}
    for service in sorted(services):
        domain = services[service]
        why = domain_problem(domain)
        if why:
            raise HostsEntriesError(
                f"local_domains_services.{service} = '{domain}' is not a valid domain ({why}); use a name like '{service}.local'"
            )
        domain = domain.lower().rstrip(".")
        if domain in owner:
            raise HostsEntriesError(
                f"local_domains_services.{service} and .{owner[domain]} both use '{domain}': give each service its own name"
            )
        owner[domain] = service
        address = direct.get(service, ingress_address)
        why = ipv4_problem(address)
        if why:
            source = f"the address of '{service}'" if service in direct else "the ingress address"
            raise HostsEntriesError(
                f"{source} '{address}' is invalid ({why}); set it to the IPv4 address that serves {domain}"
            )
        by_address.setdefault(str(address), set()).add(domain)

    return [
        {"address": address, "names": sorted(names)}
        for address, names in sorted(by_address.items(), key=lambda item: tuple(int(p) for p in item[0].split(".")))
    ]
