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


def hosts_entries(services, ingress_address, direct=None):
    """Return [{address, names}] for the services map; see hosts_entries.yml."""
    try:
        return build_hosts_entries(services, ingress_address, direct)
    except HostsEntriesError as exc:
        raise AnsibleFilterError(f"hosts_entries: {exc}") from exc


def hosts_lines(entries):
    """Render entries as /etc/hosts lines ("address name name ..."), one per address."""
    if not isinstance(entries, list):
        raise AnsibleFilterError("hosts_lines: expected the list that hosts_entries returns")
    try:
        return [f"{entry['address']} {' '.join(entry['names'])}" for entry in entries]
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError(f"hosts_lines: every entry needs 'address' and 'names' ({exc})") from exc


class FilterModule:
    """Local domain filters."""

    def filters(self):
        return {"hosts_entries": hosts_entries, "hosts_lines": hosts_lines}
