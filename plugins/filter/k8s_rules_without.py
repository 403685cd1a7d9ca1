# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter taking a resource out of RBAC rules (docs in k8s_rules_without.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def k8s_rules_without(rules, resource, api_groups=None):
    """``rules`` where no rule grants ``resource`` any more.

    A rule that lists it keeps its other resources (possibly none: the rule then grants
    nothing, and stays so the rule count matches upstream's). With ``api_groups``, only rules
    whose ``apiGroups`` equal it exactly lose the resource (``['']``: the core group's
    ``secrets``, not a custom resource of the same plural). Other rules are returned as they are.
    """
    if not isinstance(rules, list):
        raise AnsibleFilterError(f"k8s_rules_without: expected a list of rules, got {type(rules).__name__}")
    result = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise AnsibleFilterError(f"k8s_rules_without: rule #{index} is not a mapping")
        resources = rule.get("resources") or []
        if resource in resources and (api_groups is None or rule.get("apiGroups") == api_groups):
            rule = {**rule, "resources": [item for item in resources if item != resource]}
        result.append(rule)
    return result


class FilterModule:
    """RBAC rules without a resource."""

    def filters(self):
        return {"k8s_rules_without": k8s_rules_without}
