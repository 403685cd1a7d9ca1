"""A mapping becomes a container's env list: sorted as Jinja's dictsort, values as strings."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_env import FilterModule

F = FilterModule().filters()["k8s_env"]


def test_entries_are_sorted_by_name_ignoring_case_with_string_values():
    result = F({"b_port": 8080, "A_FLAG": True, "C": "x", "a_none": None})
    assert result == [
        {"name": "A_FLAG", "value": "True"},
        {"name": "a_none", "value": "None"},
        {"name": "b_port", "value": "8080"},
        {"name": "C", "value": "x"},
    ]


def test_an_empty_mapping_is_no_entries():
    assert F({}) == []


@pytest.mark.parametrize("bad", [["A=1"], "A=1", None])
def test_not_a_mapping(bad):
    with pytest.raises(AnsibleFilterError, match="k8s_env: expected a mapping"):
        F(bad)
