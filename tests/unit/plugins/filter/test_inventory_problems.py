import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.inventory_problems import FilterModule

inventory_problems = FilterModule().filters()["inventory_problems"]


def test_passes_the_summary_through():
    summary = {"groups": {"k3s_servers": ["s1", "s2"]}, "hosts": {"s1": "10.0.0.1", "s2": "10.0.0.2"}}
    assert inventory_problems(summary) == [
        "group 'k3s_servers': there are 2 k3s servers; embedded etcd needs 1 or an odd number >= 3; add or remove servers in hosts.yml"
    ]


def test_refuses_a_non_mapping():
    with pytest.raises(AnsibleFilterError, match="expected a mapping"):
        inventory_problems(["k3s_servers"])
