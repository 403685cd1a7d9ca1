# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters judging a k3s helm-controller install (docs in helm_install_*.yml; logic in module_utils/k8s/helm_install)."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s import helm_install as hi


def _filter(name, func):
    """Wrap a pure function so bad input becomes an AnsibleFilterError that names the filter."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (hi.HelmInstallError, TypeError, KeyError, AttributeError, ValueError) as exc:
            raise AnsibleFilterError(f"{name}: {exc}") from exc

    return wrapper


FILTERS = {
    "helm_install_values_applied": hi.values_applied,
    "helm_install_values_updated_at": hi.values_updated_at,
    "helm_install_job_state": hi.job_state,
    "helm_install_tls_store_problem": hi.tls_store_problem,
    "helm_install_failure": hi.failure_message,
}


class FilterModule:
    """helm-controller install filters."""

    def filters(self):
        return {name: _filter(name, func) for name, func in FILTERS.items()}
