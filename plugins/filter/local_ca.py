# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of role local_ca (docs in local_ca_name_constraints.yml and local_ca_name_problems.yml)."""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.local_ca import (
    LocalCaError,
    name_constraints,
    name_problems,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(LocalCaError)
def local_ca_name_constraints(permitted_dns, permitted_networks):
    """The CA's permitted and excluded subtrees; see local_ca_name_constraints.yml."""
    return name_constraints(permitted_dns, permitted_networks)


@filter_errors(LocalCaError)
def local_ca_name_problems(dns_names, ip_addresses, permitted_dns, permitted_networks):
    """Names of a certificate the CA may not sign; see local_ca_name_problems.yml."""
    return name_problems(dns_names, ip_addresses, permitted_dns, permitted_networks)


class FilterModule:
    """Name constraints of the local CA."""

    def filters(self):
        return {
            "local_ca_name_constraints": local_ca_name_constraints,
            "local_ca_name_problems": local_ca_name_problems,
        }
