# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters adapting an upstream manifest as data (docs in k8s_overlay.yml, k8s_set_namespace.yml,
k8s_move_to_namespace.yml, k8s_drop_objects.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.overlay import (
    OverlayError,
    drop,
    move_to_namespace,
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


def k8s_move_to_namespace(objects, names, namespace):
    """Move the objects named Kind/name into a namespace; see k8s_move_to_namespace.yml."""
    try:
        return move_to_namespace(objects, names, namespace)
    except OverlayError as exc:
        raise AnsibleFilterError(f"k8s_move_to_namespace: {exc}") from exc


def k8s_drop_objects(objects, names, overlays=None):
    """Leave out the objects named Kind/name; see k8s_drop_objects.yml."""
    try:
        return drop(objects, names, overlays=overlays or [])
    except OverlayError as exc:
        raise AnsibleFilterError(f"k8s_drop_objects: {exc}") from exc


class FilterModule:
    """Namespaces, overlays and left-out objects for upstream manifests."""

    def filters(self):
        return {
            "k8s_set_namespace": k8s_set_namespace,
            "k8s_move_to_namespace": k8s_move_to_namespace,
            "k8s_overlay": k8s_overlay,
            "k8s_drop_objects": k8s_drop_objects,
        }
