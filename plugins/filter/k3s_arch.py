# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of the nodes' CPU architectures (docs in k3s_arch.yml, node_architectures.yml, k3s_arch_files.yml,
k3s_arch_problems.yml); the rules are in module_utils/k3s/arch.py."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.arch import (
    DEFAULT_ARCH,
    ArchError,
    architectures_by_host,
    asset_problems,
    bundle_files,
    node_arch,
)


def k3s_arch(declared, fact=None, host="this host"):
    """A node's architecture (amd64, arm64) from its gauntlet_arch and its ansible_architecture."""
    try:
        return node_arch(declared, fact, str(host))
    except ArchError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def _fact(variables):
    facts = variables.get("ansible_facts") or {}
    return (facts.get("architecture") if hasattr(facts, "get") else None) or variables.get("ansible_architecture")


def node_architectures(hosts, hostvars, strict=True):
    """{architecture: [hosts]} of the given hosts; {amd64: []} when there are none."""
    if not isinstance(hosts, (list, tuple)):
        raise AnsibleFilterError(f"node_architectures: expected a list of host names, got {type(hosts).__name__}")
    seen = {}
    for host in hosts:
        try:
            variables = hostvars[host]
        except KeyError as exc:
            raise AnsibleFilterError(f"node_architectures: no host {host!r} in hostvars") from exc
        seen[str(host)] = (variables.get("gauntlet_arch"), _fact(variables))
    try:
        return architectures_by_host(seen, bool(strict)) or {DEFAULT_ARCH: []}
    except ArchError as exc:
        raise AnsibleFilterError(str(exc)) from exc


def k3s_arch_files(assets, version, architectures):
    """gauntlet_bundle_files entries of the k3s binary and airgap images of each architecture."""
    return bundle_files(assets, str(version), architectures)


def k3s_arch_problems(assets, architectures):
    """What gauntlet_k3s_arch_assets lacks for the architectures (sentences; empty when nothing)."""
    return asset_problems(assets, architectures)


class FilterModule:
    """Architecture filters."""

    def filters(self):
        return {
            "k3s_arch": k3s_arch,
            "node_architectures": node_architectures,
            "k3s_arch_files": k3s_arch_files,
            "k3s_arch_problems": k3s_arch_problems,
        }
