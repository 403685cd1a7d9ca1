# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup: the IPv4 addresses this controller resolves each name to."""

from __future__ import annotations

DOCUMENTATION = r"""
name: ipv4_addresses
short_description: The IPv4 addresses the controller resolves host names to
description:
  - For each name, the IPv4 addresses the controller's own resolver returns (C(getaddrinfo), the way
    C(ansible.builtin.uri), the community.general keycloak modules and git reach a URL), in the resolver's order.
  - A name that does not resolve gives an empty list, never an error, so a validation step can list every
    unresolved name at once.
  - Lookups run on the controller; this one reads the controller's C(/etc/hosts), DNS and so on, never a host's.
options:
  _terms:
    description: Host names.
    required: true
"""

EXAMPLES = r"""
- name: What the controller resolves the local domains to
  ansible.builtin.debug:
    msg: "{{ dict(names | zip(query('gauntlet.platform.ipv4_addresses', *names))) }}"
  vars:
    names: "{{ local_domains_services.values() | list }}"
"""

RETURN = r"""
_list:
  description: One list of IPv4 addresses per name, in the order of the names.
  type: list
  elements: list
"""

import socket

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase


def ipv4_addresses(name: str) -> list[str]:
    """The IPv4 addresses `name` resolves to on this machine, without duplicates; [] when it does not resolve."""
    try:
        answers = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    found: list[str] = []
    for *_unused, sockaddr in answers:
        if sockaddr[0] not in found:
            found.append(sockaddr[0])
    return found


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if kwargs:
            raise AnsibleLookupError(f"ipv4_addresses: takes host names only, not {', '.join(sorted(kwargs))}")
        bad = [term for term in terms if not isinstance(term, str) or not term]
        if bad:
            raise AnsibleLookupError(f"ipv4_addresses: every term must be a host name, got {bad!r}")
        return [ipv4_addresses(term) for term in terms]
