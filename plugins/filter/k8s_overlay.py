# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters adapting an upstream manifest as data (docs in k8s_overlay.yml, k8s_set_namespace.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.overlay import (
    OverlayError,
    overlay,
    set_namespace,
)


def k8s_set_namespace(objects, namespace, cluster_kinds=None):
    """Set metadata.namespace on every namespaced object; see k8s_set_namespace.yml."""
    try:
        return set_namespace(objects, namespace, cluster_kinds=cluster_kinds or [])
    except OverlayError as exc:
        raise AnsibleFilterError(f"k8s_set_namespace: {exc}") from exc


def k8s_overlay(objects, overlays):
    """Merge partial objects into the objects they name; see k8s_overlay.yml."""
    try:
        return overlay(objects, overlays)
    except OverlayError as exc:
        raise AnsibleFilterError(f"k8s_overlay: {exc}") from exc


class FilterModule:
    """Namespace and overlays for upstream manifests."""

    def filters(self):
        return {"k8s_set_namespace": k8s_set_namespace, "k8s_overlay": k8s_overlay}
