# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters that turn the local domain map into hosts entries (docs in hosts_entries.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.hosts_entries import (
    HostsEntriesError,
    build_hosts_entries,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(HostsEntriesError)
def hosts_entries(services, ingress_address, direct=None):
    """Return [{address, names}] for the services map; see hosts_entries.yml."""
    return build_hosts_entries(services, ingress_address, direct)


def hosts_lines(entries):
    """Render entries as /etc/hosts lines ("address name name ..."), one per address."""
    if not isinstance(entries, list):
        raise AnsibleFilterError("hosts_lines: expected the list that hosts_entries returns")
    try:
        return [f"{entry['address']} {' '.join(entry['names'])}" for entry in entries]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"hosts_lines: every entry needs 'address' and 'names' ({exc})") from exc


def resolver_mismatches(lines, entries):
    """The names that do not resolve to their entry's address, as {name: what resolved ('-' for
    nothing)}, from lines "<name> <address>" (local_domains' resolver check prints one per name)."""
    if not isinstance(entries, list):
        raise AnsibleFilterError("resolver_mismatches: expected the list that hosts_entries returns")
    resolved = {}
    for line in lines or []:
        name, _sep, address = str(line).strip().partition(" ")
        resolved[name] = address.strip() or "-"
    wrong = {}
    for entry in entries:
        for name in entry["names"]:
            got = resolved.get(name, "-")
            if got != entry["address"]:
                wrong[name] = got
    return wrong


class FilterModule:
    """Local domain filters."""

    def filters(self):
        return {"hosts_entries": hosts_entries, "hosts_lines": hosts_lines, "resolver_mismatches": resolver_mismatches}
