# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter changing the arguments of one container of a pod (docs in k8s_container_args.yml)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError


def k8s_container_args(containers, name, append=None, drop=""):
    """``containers`` where container ``name`` runs without the arguments ``drop`` matches
    (a regular expression anchored at the start, as Jinja's ``match`` test) and with ``append``
    after its own. The other containers are returned as they are."""
    if not isinstance(containers, list):
        raise AnsibleFilterError(f"k8s_container_args: expected a list of containers, got {type(containers).__name__}")
    pattern = re.compile(drop) if drop else None
    found, result = False, []
    for container in containers:
        if isinstance(container, dict) and container.get("name") == name:
            found = True
            args = [arg for arg in container.get("args") or [] if not (pattern and pattern.match(arg))]
            container = {**container, "args": args + list(append or [])}
        result.append(container)
    if not found:
        raise AnsibleFilterError(f"k8s_container_args: no container named {name!r}")
    return result


class FilterModule:
    """Container arguments."""

    def filters(self):
        return {"k8s_container_args": k8s_container_args}
