# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Adapt an upstream install manifest without copying it: namespaces and overlays.

Upstream manifests such as Argo CD's ``install.yaml`` are applied as published, with
two kinds of change made as data:

- ``set_namespace`` puts every namespaced object into a namespace (the manifest leaves
  it to ``kubectl apply -n``);
- ``overlay`` merges partial objects into the upstream ones they name (same kind and
  name), the way a strategic merge patch does: mappings merge key by key, lists of
  mappings that all carry a ``name`` (containers, env, volumes, ports) merge item by
  item on that name, any other value replaces. An overlay that names an object or a
  list item upstream does not have is an error: an upstream rename must not silently
  drop a setting.

Stdlib only. The inputs are never modified; the results share the parts no change
touches with them (cheap for manifests of megabytes).
"""

from __future__ import annotations

import copy

# Built-in kinds that live outside namespaces (kubectl api-resources --namespaced=false),
# for the API groups install manifests use.
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CSIDriver",
        "CSINode",
        "CertificateSigningRequest",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "FlowSchema",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "PriorityLevelConfiguration",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


class OverlayError(ValueError):
    """Objects or overlays that cannot be combined."""


def _identity(obj, what: str) -> tuple[str, str]:
    if not isinstance(obj, dict):
        raise OverlayError(f"{what} must be a mapping, got {type(obj).__name__}")
    kind = obj.get("kind")
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(kind, str) or not kind or not isinstance(name, str) or not name:
        raise OverlayError(f"{what} needs kind and metadata.name (got kind={kind!r}, name={name!r})")
    return kind, name


def _objects(objects, what: str) -> list:
    if not isinstance(objects, list):
        raise OverlayError(f"{what} must be a list of Kubernetes objects, got {type(objects).__name__}")
    return objects


def set_namespace(objects, namespace, cluster_kinds=()) -> list:
    """Copies of ``objects`` with ``metadata.namespace`` set on every namespaced one.

    Cluster-scoped objects are the built-in kinds of CLUSTER_SCOPED_KINDS, the kinds of
    cluster-scoped CustomResourceDefinitions in ``objects`` and ``cluster_kinds``; they
    are left alone. An object that already names another namespace is an error.
    """
    if not isinstance(namespace, str) or not namespace:
        raise OverlayError(f"namespace must be a non-empty string, got {namespace!r}")
    if isinstance(cluster_kinds, str) or not isinstance(cluster_kinds, list | tuple | set | frozenset):
        raise OverlayError(f"cluster_kinds must be a list of kinds, got {cluster_kinds!r}")
    objects = _objects(objects, "objects")
    cluster = set(CLUSTER_SCOPED_KINDS) | set(cluster_kinds)
    for obj in objects:
        kind, _unused = _identity(obj, "every object")
        spec = obj.get("spec") or {}
        if kind == "CustomResourceDefinition" and spec.get("scope") == "Cluster":
            cluster.add((spec.get("names") or {}).get("kind"))
    result = []
    for obj in objects:
        kind, name = _identity(obj, "every object")
        if kind not in cluster:
            current = obj["metadata"].get("namespace")
            if current not in (None, "", namespace):
                raise OverlayError(f"{kind} {name} is already in namespace {current!r}, not {namespace!r}")
            # Copy only what changes: the rest is shared with the input, never modified.
            obj = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
        result.append(obj)
    return result


def _is_named_list(value) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(item, dict) and isinstance(item.get("name"), str) for item in value)
    )


def _merge(base, patch, path: str):
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value, f"{path}.{key}") if key in base else copy.deepcopy(value)
        return merged
    if _is_named_list(base) and _is_named_list(patch):
        merged = list(base)
        index = {item["name"]: position for position, item in enumerate(base)}
        for item in patch:
            if item["name"] not in index:
                raise OverlayError(
                    f"{path} has no item named {item['name']!r} (it has {', '.join(sorted(index))}); "
                    "was it renamed upstream?"
                )
            position = index[item["name"]]
            merged[position] = _merge(base[position], item, f"{path}[{item['name']}]")
        return merged
    return copy.deepcopy(patch)


def overlay(objects, overlays) -> list:
    """Copies of ``objects`` with every overlay merged into the object it names.

    Each overlay is a partial object with ``kind`` and ``metadata.name`` (and
    ``metadata.namespace`` when objects of that kind and name exist in several
    namespaces); it must match exactly one object.
    """
    objects = _objects(objects, "objects")
    overlays = _objects(overlays, "overlays")
    # _merge builds new mappings and lists along the overlay's paths and shares the rest,
    # so the input is never modified and large objects are not copied.
    result = list(objects)
    for patch in overlays:
        kind, name = _identity(patch, "every overlay")
        namespace = patch["metadata"].get("namespace")
        matches = [
            position
            for position, obj in enumerate(result)
            if _identity(obj, "every object") == (kind, name)
            and (namespace is None or obj["metadata"].get("namespace") == namespace)
        ]
        if len(matches) != 1:
            where = f" in namespace {namespace}" if namespace else ""
            found = "no object" if not matches else f"{len(matches)} objects (set metadata.namespace)"
            raise OverlayError(f"overlay {kind} {name}{where} matches {found}; was it renamed upstream?")
        position = matches[0]
        result[position] = _merge(result[position], patch, f"{kind} {name}")
    return result
