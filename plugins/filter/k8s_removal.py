# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of the removal path (playbooks/remove.yml, role k8s_objects tasks/remove.yml): the
references of a component's objects, and the order to delete them in (docs in
k8s_object_refs.yml and k8s_removal_order.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

# Deleted first: an admission webhook or an aggregated API whose backend goes away with the
# platform would refuse (failurePolicy Fail) or stall the deletions that follow; the namespace
# controller cannot finish a Namespace while an APIService it discovers is unavailable
# (condition NamespaceDeletionDiscoveryFailure).
_FIRST_GROUPS = ("admissionregistration.k8s.io", "apiregistration.k8s.io")


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def k8s_object_refs(objects, component=""):
    """apiVersion, kind, namespace and name of each object: what a deletion needs, and nothing a
    Secret carries."""
    if not isinstance(objects, list):
        raise AnsibleFilterError(f"k8s_object_refs: expected a list of objects, got {type(objects).__name__}")
    refs = []
    for index, obj in enumerate(objects):
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        if not isinstance(meta, dict) or not obj.get("apiVersion") or not obj.get("kind") or not meta.get("name"):
            raise AnsibleFilterError(
                f"k8s_object_refs: object #{index} of {component or 'the list'} has no apiVersion, kind or metadata.name"
            )
        ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": {"name": meta["name"]}}
        if meta.get("namespace"):
            ref["metadata"]["namespace"] = meta["namespace"]
        if component:
            ref["component"] = component
        refs.append(ref)
    return refs


def k8s_removal_order(refs):
    """The objects (apply order, every component's list one after the other) in the order to
    delete them: admission webhooks and APIServices, then namespaced objects outside the
    Namespaces of the list (custom resources among them), then the other cluster-scoped
    objects, then Namespaces (with everything in them), then CustomResourceDefinitions; each
    group in reverse apply order, every object once."""
    if not isinstance(refs, list):
        raise AnsibleFilterError(f"k8s_removal_order: expected a list of objects, got {type(refs).__name__}")
    phases = [[], [], [], [], []]
    seen = set()
    # A namespaced object in a Namespace that is deleted too goes with it: the namespace
    # controller deletes everything a Namespace holds (custom resources too, while their CRD
    # exists: the CRDs come last), so it is not deleted one by one.
    namespaces = {
        r["metadata"].get("name")
        for r in refs
        if isinstance(r, dict)
        and isinstance(r.get("metadata"), dict)
        and r.get("apiVersion") == "v1"
        and r.get("kind") == "Namespace"
    }
    for index, ref in enumerate(reversed(refs)):
        meta = ref.get("metadata") if isinstance(ref, dict) else None
        if not isinstance(meta, dict) or not ref.get("apiVersion") or not ref.get("kind") or not meta.get("name"):
            raise AnsibleFilterError(
                f"k8s_removal_order: object #{len(refs) - 1 - index} has no apiVersion, kind or metadata.name"
            )
        group = _group(ref["apiVersion"])
        key = (group, ref["kind"], meta.get("namespace") or "", meta["name"])
        if key in seen:
            continue
        seen.add(key)
        if group in _FIRST_GROUPS:
            phase = 0
        elif meta.get("namespace") in namespaces:
            continue
        elif meta.get("namespace"):
            phase = 1
        elif group == "" and ref["kind"] == "Namespace":
            phase = 3
        elif group == "apiextensions.k8s.io" and ref["kind"] == "CustomResourceDefinition":
            phase = 4
        else:
            phase = 2
        phases[phase].append(ref)
    return [ref for phase in phases for ref in phase]


class FilterModule:
    """The removal path's object references and order."""

    def filters(self):
        return {"k8s_object_refs": k8s_object_refs, "k8s_removal_order": k8s_removal_order}
