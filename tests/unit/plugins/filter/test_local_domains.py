import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.local_domains import FilterModule

FILTERS = FilterModule().filters()


def test_entries_then_lines():
    entries = FILTERS["hosts_entries"](
        {"gitea": "gitea.local", "registry": "registry.local"}, "10.0.0.1", {"registry": "10.0.0.2"}
    )
    assert FILTERS["hosts_lines"](entries) == ["10.0.0.1 gitea.local", "10.0.0.2 registry.local"]


def test_entries_error_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match=r"hosts_entries: local_domains_services\.gitea"):
        FILTERS["hosts_entries"]({"gitea": "-bad.local"}, "10.0.0.1")


@pytest.mark.parametrize("bad", [None, "10.0.0.1 x", [{"address": "10.0.0.1"}], [None]])
def test_lines_refuses_what_entries_never_returns(bad):
    with pytest.raises(AnsibleFilterError, match="hosts_lines"):
        FILTERS["hosts_lines"](bad)


def test_resolver_mismatches_names_wrong_and_missing_names():
    entries = [
        {"address": "10.0.0.1", "names": ["gitea.local", "drone.local"]},
        {"address": "10.0.0.2", "names": ["registry.local"]},
    ]
    lines = ["gitea.local 10.0.0.1", "drone.local 10.9.9.9", "registry.local -"]
    assert FILTERS["resolver_mismatches"](lines, entries) == {"drone.local": "10.9.9.9", "registry.local": "-"}
    assert (
        FILTERS["resolver_mismatches"](
            ["gitea.local 10.0.0.1", "drone.local 10.0.0.1", "registry.local 10.0.0.2"], entries
        )
        == {}
    )
