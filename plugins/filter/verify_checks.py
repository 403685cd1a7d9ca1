# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of the post-install check: registered results in, result rows out (docs in verify_*.yml)."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.verify import checks as vc
from ansible_collections.gauntlet.platform.plugins.module_utils.hosts_entries import HostsEntriesError


def _filter(name, func):
    """Wrap a pure function so bad input becomes an AnsibleFilterError that names the filter."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (vc.VerifyInputError, HostsEntriesError, TypeError, KeyError, AttributeError, ValueError) as exc:
            raise AnsibleFilterError(f"{name}: {exc}") from exc

    return wrapper


def _row(check, target, result, detail=None):
    return vc.make_row(check, target, result, detail)


FILTERS = {
    "verify_row": _row,
    "verify_dns": vc.dns_row,
    "verify_pick_pod": vc.pick_pod,
    "verify_tls_targets": vc.tls_targets,
    "verify_tls": vc.tls_rows,
    "verify_registry": vc.registry_row,
    "verify_pod_problems": vc.pod_problems,
    "verify_pods": vc.pods_row,
    "verify_argocd_app": vc.argocd_app_row,
    "verify_deployed_image": vc.deployed_image_row,
    "verify_drone_repo": vc.drone_repo_row,
    "verify_keycloak_token": vc.keycloak_token_row,
    "verify_http_status": vc.http_status_row,
    "verify_linkerd_edges": vc.linkerd_edges_row,
    "verify_prometheus_targets": vc.prometheus_targets_row,
    "verify_prometheus_rules": vc.prometheus_rules_row,
    "verify_grafana_datasources": vc.grafana_datasource_rows,
    "verify_table": vc.render_table,
}


class FilterModule:
    """Post-install check filters."""

    def filters(self):
        return {name: _filter(name, func) for name, func in FILTERS.items()}
