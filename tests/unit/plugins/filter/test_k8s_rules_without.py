"""RBAC rules lose one resource; everything else about them stays."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_rules_without import FilterModule

F = FilterModule().filters()["k8s_rules_without"]
RULES = [
    {"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["list", "watch"]},
    {"apiGroups": ["example.com"], "resources": ["secrets"], "verbs": ["get"]},
    {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]},
    {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
]


def test_every_rule_loses_the_resource_and_keeps_its_place():
    result = F(RULES, "secrets")
    assert result[0] == {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list", "watch"]}
    assert result[1] == {"apiGroups": ["example.com"], "resources": [], "verbs": ["get"]}
    assert result[2:] == RULES[2:]
    assert RULES[0]["resources"] == ["configmaps", "secrets"], "the input is not modified"


def test_only_rules_of_the_given_api_groups():
    result = F(RULES, "secrets", api_groups=[""])
    assert result[0]["resources"] == ["configmaps"]
    assert result[1] == RULES[1]


@pytest.mark.parametrize(("bad", "message"), [({"rules": []}, "expected a list"), (["x"], "rule #0")])
def test_bad_input(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F(bad, "secrets")
