# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters adapting an upstream manifest as data (docs in k8s_overlay.yml, k8s_set_namespace.yml,
k8s_move_to_namespace.yml, k8s_drop_objects.yml)."""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.overlay import (
    OverlayError,
    drop,
    move_to_namespace,
    overlay,
    set_namespace,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(OverlayError)
def k8s_set_namespace(objects, namespace, cluster_kinds=None):
    """Set metadata.namespace on every namespaced object; see k8s_set_namespace.yml."""
    return set_namespace(objects, namespace, cluster_kinds=cluster_kinds or [])


@filter_errors(OverlayError)
def k8s_overlay(objects, overlays):
    """Merge partial objects into the objects they name; see k8s_overlay.yml."""
    return overlay(objects, overlays)


@filter_errors(OverlayError)
def k8s_move_to_namespace(objects, names, namespace):
    """Move the objects named Kind/name into a namespace; see k8s_move_to_namespace.yml."""
    return move_to_namespace(objects, names, namespace)


@filter_errors(OverlayError)
def k8s_drop_objects(objects, names, overlays=None):
    """Leave out the objects named Kind/name; see k8s_drop_objects.yml."""
    return drop(objects, names, overlays=overlays or [])


class FilterModule:
    """Namespaces, overlays and left-out objects for upstream manifests."""

    def filters(self):
        return {
            "k8s_set_namespace": k8s_set_namespace,
            "k8s_move_to_namespace": k8s_move_to_namespace,
            "k8s_overlay": k8s_overlay,
            "k8s_drop_objects": k8s_drop_objects,
        }
