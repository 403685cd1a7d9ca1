# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter turning requests and limits by workload and container into overlays (docs in k8s_resources_overlays.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

WORKLOAD_KINDS = ("Deployment", "StatefulSet")


def _overlay(workload, containers, upstream):
    found = [
        obj
        for obj in upstream
        if obj.get("kind") in WORKLOAD_KINDS and (obj.get("metadata") or {}).get("name") == workload
    ]
    pod = found[0]["spec"]["template"]["spec"] if found else {}
    init_names = {container.get("name") for container in pod.get("initContainers") or []}
    pod_spec = {}
    # An init container's resources go under initContainers: k8s_overlay matches list items by name.
    for key, wanted in (("initContainers", True), ("containers", False)):
        items = [
            {"name": name, "resources": resources}
            for name, resources in containers.items()
            if (name in init_names) == wanted
        ]
        if items:
            pod_spec[key] = items
    return {
        "kind": found[0]["kind"] if found else "Deployment",
        "metadata": {"name": workload},
        "spec": {"template": {"spec": pod_spec}},
    }


def k8s_resources_overlays(resources, upstream):
    """One overlay (for k8s_overlay) per workload of ``resources`` (``{workload: {container:
    resources}}``) that sets those containers' requests and limits; a workload without
    containers is skipped. Kind and init containers come from the ``upstream`` objects."""
    if not isinstance(resources, Mapping):
        raise AnsibleFilterError(
            f"k8s_resources_overlays: expected {{workload: {{container: resources}}}}, got {type(resources).__name__}"
        )
    if not isinstance(upstream, list):
        raise AnsibleFilterError(
            f"k8s_resources_overlays: upstream must be a list of objects, got {type(upstream).__name__}"
        )
    overlays = []
    for workload, containers in resources.items():
        if not containers:
            continue
        if not isinstance(containers, Mapping):
            raise AnsibleFilterError(
                f"k8s_resources_overlays: {workload}: expected {{container: resources}}, got {type(containers).__name__}"
            )
        overlays.append(_overlay(workload, containers, upstream))
    return overlays


class FilterModule:
    """Requests and limits as overlays."""

    def filters(self):
        return {"k8s_resources_overlays": k8s_resources_overlays}
