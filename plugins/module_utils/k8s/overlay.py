# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Adapt an upstream install manifest without copying it: namespaces, overlays, left-out objects.

Upstream manifests (Argo CD's ``install.yaml``, kube-prometheus, CloudNativePG's release
manifest) are applied as published, with every change made as data, here:

- ``set_namespace`` puts every namespaced object into a namespace (the manifest leaves
  it to ``kubectl apply -n``); ``move_to_namespace`` moves named objects into another one;
- ``overlay`` merges partial objects into the upstream ones they name (same kind and
  name), the way a strategic merge patch does: mappings merge key by key, lists of
  mappings that all carry a ``name`` (containers, env, volumes, ports) merge item by
  item on that name, any other value replaces. Two of the patch's directives are
  understood in an overlay's lists: an item ``{"$patch": "replace"}`` makes the list's
  other items replace the object's list, and an item ``{"name": ..., "$patch": "delete"}``
  removes that named item;
- ``drop`` leaves named objects out.

An overlay, a delete, a move or a drop that names an object or a list item upstream
does not have is an error: an upstream rename must not silently drop a setting (or
bring back what the platform leaves out).

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


# A strategic merge patch directive: the key, and the item of an overlay's list that makes
# the list replace the object's list.
DIRECTIVE = "$patch"
REPLACE = {DIRECTIVE: "replace"}


def _literal(value, path: str):
    """A copy of ``value`` where it replaces or adds to what the object has. A list's replace
    directive is dropped (the list replaces anyway); any other directive would have nothing to
    act on (and would reach the API server as a field), so it is an error."""
    if isinstance(value, dict):
        if DIRECTIVE in value:
            raise OverlayError(f"{path}: {DIRECTIVE} {value[DIRECTIVE]!r} has nothing to act on here")
        return {key: _literal(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        items = [item for item in value if item != REPLACE]
        return [_literal(item, f"{path}[{position}]") for position, item in enumerate(items)]
    return copy.deepcopy(value)


def _merge_named(base: list, patch: list, path: str) -> list:
    merged = list(base)
    index = {item["name"]: position for position, item in enumerate(base)}
    deleted = set()
    for item in patch:
        if item["name"] not in index:
            raise OverlayError(
                f"{path} has no item named {item['name']!r} (it has {', '.join(sorted(index))}); was it renamed upstream?"
            )
        position = index[item["name"]]
        directive = item.get(DIRECTIVE)
        if directive is None:
            merged[position] = _merge(base[position], item, f"{path}[{item['name']}]")
        elif directive == "delete" and set(item) == {"name", DIRECTIVE}:
            deleted.add(position)
        else:
            raise OverlayError(
                f"{path}[{item['name']}]: an item of a named list takes {DIRECTIVE} 'delete' with its name only"
            )
    return [item for position, item in enumerate(merged) if position not in deleted]


def _merge(base, patch, path: str):
    if isinstance(base, dict) and isinstance(patch, dict) and DIRECTIVE not in patch:
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value, f"{path}.{key}") if key in base else _literal(value, f"{path}.{key}")
        return merged
    if isinstance(patch, list) and REPLACE in patch:
        return _literal(patch, path)
    if _is_named_list(base) and _is_named_list(patch):
        return _merge_named(base, patch, path)
    return _literal(patch, path)


def overlay(objects, overlays) -> list:
    """Copies of ``objects`` with every overlay merged into the object it names.

    Each overlay is a partial object with ``kind`` and ``metadata.name`` (and
    ``metadata.namespace`` when objects of that kind and name exist in several
    namespaces); it must match exactly one object. ``metadata.namespace`` selects the
    object, it does not move it (``move_to_namespace`` does).
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


def _names(names, what: str) -> list:
    if isinstance(names, str) or not isinstance(names, list | tuple):
        raise OverlayError(f"{what} must be a list of 'Kind/name', got {names!r}")
    for name in names:
        if not isinstance(name, str) or name.count("/") != 1 or "" in name.split("/"):
            raise OverlayError(f"{what} must be a list of 'Kind/name', got {name!r}")
    return list(names)


def _key(obj, what: str) -> str:
    return "/".join(_identity(obj, what))


def drop(objects, names, overlays=None) -> list:
    """``objects`` without the ones ``names`` lists as ``Kind/name`` (in any namespace).

    Every name must match an object: an upstream rename would otherwise bring back an
    object the platform leaves out, without a word. An object one of ``overlays`` names
    must not be dropped as well: one of the two decisions would be lost.
    """
    objects = _objects(objects, "objects")
    names = set(_names(names, "names"))
    keys = [_key(obj, "every object") for obj in objects]
    missing = sorted(names - set(keys))
    if missing:
        raise OverlayError(f"no object to leave out named {', '.join(missing)}; was it renamed upstream?")
    changed = sorted(names & {_key(patch, "every overlay") for patch in _objects(overlays or [], "overlays")})
    if changed:
        raise OverlayError(f"{', '.join(changed)} is changed by an overlay and left out as well; keep one of the two")
    return [obj for obj, key in zip(objects, keys, strict=True) if key not in names]


def move_to_namespace(objects, names, namespace) -> list:
    """Copies of ``objects`` where the ones ``names`` lists as ``Kind/name`` are in ``namespace``.

    Each name must match exactly one namespaced object (as an overlay must): a move that
    lands nowhere would leave the object where the platform does not want it.
    """
    if not isinstance(namespace, str) or not namespace:
        raise OverlayError(f"namespace must be a non-empty string, got {namespace!r}")
    objects = _objects(objects, "objects")
    names = _names(names, "names")
    keys = [_key(obj, "every object") for obj in objects]
    for name in names:
        count = keys.count(name)
        if count != 1:
            raise OverlayError(
                f"{name} to move to namespace {namespace} matches {count or 'no'} objects; was it renamed upstream?"
            )
        if name.split("/")[0] in CLUSTER_SCOPED_KINDS:
            raise OverlayError(f"{name} is cluster-scoped: it has no namespace to move")
    return [
        {**obj, "metadata": {**obj["metadata"], "namespace": namespace}} if key in names else obj
        for obj, key in zip(objects, keys, strict=True)
    ]
