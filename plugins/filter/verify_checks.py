# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of the post-install check: registered results in, result rows out (docs in verify_*.yml)."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.hosts_entries import HostsEntriesError
from ansible_collections.gauntlet.platform.plugins.module_utils.verify import (
    argocd,
    dns,
    observability,
    rows,
    services,
    tls,
    workloads,
)


def _filter(name, func):
    """Wrap a pure function so bad input becomes an AnsibleFilterError that names the filter."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (rows.VerifyInputError, HostsEntriesError, TypeError, KeyError, AttributeError, ValueError) as exc:
            raise AnsibleFilterError(f"{name}: {exc}") from exc

    return wrapper


def _row(check, target, result, detail=None):
    return rows.make_row(check, target, result, detail)


FILTERS = {
    "verify_row": _row,
    "verify_dns": dns.dns_row,
    "verify_pick_pod": dns.pick_pod,
    "verify_tls_targets": tls.tls_targets,
    "verify_tls": tls.tls_rows,
    "verify_registry": workloads.registry_row,
    "verify_pod_problems": workloads.pod_problems,
    "verify_pods": workloads.pods_row,
    "verify_argocd_app": argocd.application_row,
    "verify_deployed_image": workloads.deployed_image_row,
    "verify_drone_repo": services.drone_repo_row,
    "verify_keycloak_token": services.keycloak_token_row,
    "verify_http_status": services.http_status_row,
    "verify_linkerd_edges": observability.linkerd_edges_row,
    "verify_prometheus_targets": observability.prometheus_targets_row,
    "verify_prometheus_rules": observability.prometheus_rules_row,
    "verify_grafana_datasources": observability.grafana_datasource_rows,
    "verify_table": rows.render_table,
}


class FilterModule:
    """Post-install check filters."""

    def filters(self):
        return {name: _filter(name, func) for name, func in FILTERS.items()}
