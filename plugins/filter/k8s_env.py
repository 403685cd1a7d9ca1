# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter turning a mapping into a container's C(env) list (docs in k8s_env.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def k8s_env(variables):
    """``{NAME: value}`` as ``[{name: NAME, value: 'value'}]``, sorted by name.

    Sorted so the pod template, and with it the rollout, changes only when a value does, and
    ignoring case as Jinja's ``dictsort`` does (the order templates wrote before this filter);
    every value a string, as the API server wants (``5`` -> ``'5'``, ``true`` -> ``'True'``,
    the way Jinja's ``string`` filter writes them).
    """
    if not isinstance(variables, Mapping):
        raise AnsibleFilterError(f"k8s_env: expected a mapping of variables, got {type(variables).__name__}")
    names = sorted(variables, key=lambda name: str(name).lower())
    return [{"name": str(name), "value": str(variables[name])} for name in names]


class FilterModule:
    """Container environment from a mapping."""

    def filters(self):
        return {"k8s_env": k8s_env}
