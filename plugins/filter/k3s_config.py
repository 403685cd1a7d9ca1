# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of the k3s roles (docs in k3s_config.yml, k3s_token_matches.yml,
k8s_object_filename.yml, k8s_object_filenames.yml, k3s_upgrade_plan.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.config import (
    K3sConfigError,
    build_config,
    object_filename,
    token_matches,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.etcd_snapshot import SnapshotError, prune_plan
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.version import K3sVersionError, upgrade_plan
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(K3sConfigError)
def k3s_config(settings, role):
    """config.yaml content for a server or an agent; see k3s_config.yml."""
    return build_config(settings, role)


def k3s_token_matches(stored, token):
    """True when the token a server stored belongs to this cluster token (or nothing is stored)."""
    if not isinstance(stored, str) or not isinstance(token, str):
        raise AnsibleFilterError("k3s_token_matches: expected the stored token text and the cluster token")
    return token_matches(stored, token)


@filter_errors(K3sConfigError, TypeError, ValueError)
def k8s_object_filename(obj, index):
    """File name of a rendered object: NN-kind-namespace-name.yaml."""
    return object_filename(obj, int(index))


def k8s_object_filenames(objects):
    """File names of a whole component's objects, in order; fails on duplicates."""
    if not isinstance(objects, list):
        raise AnsibleFilterError("k8s_object_filenames: expected the list of objects")
    names = [k8s_object_filename(obj, index) for index, obj in enumerate(objects)]
    seen = set()
    for obj in objects:
        key = (
            obj.get("apiVersion", "").split("/")[0],
            obj["kind"],
            obj["metadata"].get("namespace"),
            obj["metadata"]["name"],
        )
        if key in seen:
            raise AnsibleFilterError(f"k8s_object_filenames: {obj['kind']} {obj['metadata']['name']} appears twice")
        seen.add(key)
    return names


@filter_errors(K3sVersionError)
def k3s_upgrade_plan(installed, target, lock, allow_downgrade=False, allow_minor_skip=False):
    """Every node's version change and what stops the upgrade; see k3s_upgrade_plan.yml."""
    return upgrade_plan(installed, target, lock, bool(allow_downgrade), bool(allow_minor_skip))


@filter_errors(SnapshotError)
def k3s_etcd_snapshot_prune(files, prefix, keep):
    """Which snapshots a prune keeps and deletes; see k3s_etcd_snapshot_prune.yml."""
    return prune_plan(files, prefix, keep)


class FilterModule:
    """k3s filters."""

    def filters(self):
        return {
            "k3s_config": k3s_config,
            "k3s_token_matches": k3s_token_matches,
            "k8s_object_filename": k8s_object_filename,
            "k8s_object_filenames": k8s_object_filenames,
            "k3s_upgrade_plan": k3s_upgrade_plan,
            "k3s_etcd_snapshot_prune": k3s_etcd_snapshot_prune,
        }
