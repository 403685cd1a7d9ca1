# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter setting environment variables in the containers of one workload (docs in k8s_set_env.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _with_env(container, env):
    entries = [entry for entry in container.get("env") or [] if entry.get("name") not in env]
    return {**container, "env": entries + [{"name": name, "value": value} for name, value in env.items()]}


def k8s_set_env(objects, kind, name, env):
    """``objects`` where every container of workload ``kind``/``name`` has the variables of
    ``env``: an entry of the same name is replaced, the new entries come last, in ``env``'s order.

    An overlay (k8s_overlay) merges list items by name but cannot add one; this adds.
    """
    if not isinstance(objects, list):
        raise AnsibleFilterError(f"k8s_set_env: expected a list of objects, got {type(objects).__name__}")
    if not isinstance(env, Mapping):
        raise AnsibleFilterError(f"k8s_set_env: env must be a mapping of names to values, got {type(env).__name__}")
    result, found = [], False
    for obj in objects:
        if (
            isinstance(obj, dict)
            and obj.get("kind") == kind
            and (obj.get("metadata") or {}).get("name") == name
            and not found
        ):
            found = True
            pod = obj["spec"]["template"]["spec"]
            pod = {**pod, "containers": [_with_env(container, env) for container in pod["containers"]]}
            obj = {**obj, "spec": {**obj["spec"], "template": {**obj["spec"]["template"], "spec": pod}}}
        result.append(obj)
    if not found:
        raise AnsibleFilterError(f"k8s_set_env: no {kind} named {name!r}")
    return result


class FilterModule:
    """Environment variables of a workload."""

    def filters(self):
        return {"k8s_set_env": k8s_set_env}
