# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Pure helpers of role local_ca: the CA's name constraints and the check of a certificate's names
against them. No Ansible imports, so tests use them directly.

RFC 5280 section 4.2.1.10: a dNSName constraint ``local`` permits ``local`` and every name below it
(``gitea.local``); an iPAddress constraint is a network. Names of a type with no permitted subtree
are not constrained at all, so a CA that may sign no IP address excludes every address instead.
"""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Every IPv4 and IPv6 address: excluded when no network is permitted.
ALL_ADDRESSES = ("IP:0.0.0.0/0", "IP:::/0")


class LocalCaError(ValueError):
    """Raised with a message the user can act on."""


def _dns_name(value, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise LocalCaError(f"{what}: {value!r} is not a DNS name")
    name = value.lower().rstrip(".")
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise LocalCaError(f"{what}: {value!r} is not a DNS name (RFC 1123 labels joined by dots, no wildcard)")
    return name


def _network(value, what: str):
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise LocalCaError(f"{what}: {value!r} is not a network in CIDR form (e.g. 192.168.56.0/24): {exc}") from exc


def name_constraints(permitted_dns, permitted_networks) -> dict:
    """{"permitted": [...], "excluded": [...]} in community.crypto's ``DNS:``/``IP:`` notation."""
    if not isinstance(permitted_dns, (list, tuple)) or not permitted_dns:
        raise LocalCaError(
            "local_ca_permitted_dns is empty: list the DNS domains the CA may sign (e.g. [local]); "
            "a CA without a permitted DNS subtree would be unconstrained"
        )
    if not isinstance(permitted_networks, (list, tuple)):
        raise LocalCaError("local_ca_permitted_ips must be a list of networks in CIDR form")
    dns = sorted({_dns_name(item, "local_ca_permitted_dns") for item in permitted_dns})
    networks = sorted({_network(item, "local_ca_permitted_ips") for item in permitted_networks}, key=str)
    permitted = [f"DNS:{name}" for name in dns] + [f"IP:{network}" for network in networks]
    excluded = [] if networks else list(ALL_ADDRESSES)
    return {"permitted": permitted, "excluded": excluded}


def _dns_within(name: str, subtree: str) -> bool:
    return name == subtree or name.endswith("." + subtree)


def name_problems(dns_names, ip_addresses, permitted_dns, permitted_networks) -> list:
    """The names of a certificate to issue that the CA's constraints would not permit (empty: all fine)."""
    dns = [_dns_name(item, "local_ca_permitted_dns") for item in permitted_dns or []]
    networks = [_network(item, "local_ca_permitted_ips") for item in permitted_networks or []]
    problems = []
    for value in dns_names or []:
        if isinstance(value, str) and value.startswith("*."):
            problems.append(f"{value} is a wildcard: issue certificates for the exact names")
            continue
        name = _dns_name(value, "local_ca_cert_dns")
        if not any(_dns_within(name, subtree) for subtree in dns):
            problems.append(f"{value} is outside the CA's DNS domains ({', '.join(dns)})")
    for value in ip_addresses or []:
        try:
            address = ipaddress.ip_address(str(value))
        except ValueError:
            problems.append(f"{value} is not an IP address")
            continue
        if not any(address in network for network in networks):
            where = ", ".join(str(n) for n in networks) or "none: local_ca_permitted_ips is empty"
            problems.append(f"{value} is outside the CA's networks ({where})")
    return problems
