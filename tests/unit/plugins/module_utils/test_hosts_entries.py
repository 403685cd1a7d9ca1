import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.hosts_entries import (
    HostsEntriesError,
    build_hosts_entries,
)

SERVICES = {"gitea": "gitea.local", "argocd": "argocd.local", "registry": "registry.local"}


def test_ingress_and_direct_addresses_sorted():
    entries = build_hosts_entries(SERVICES, "10.0.0.11", {"registry": "10.0.0.30"})
    assert entries == [
        {"address": "10.0.0.11", "names": ["argocd.local", "gitea.local"]},
        {"address": "10.0.0.30", "names": ["registry.local"]},
    ]


def test_addresses_sort_numerically_not_as_text():
    entries = build_hosts_entries(SERVICES, "10.0.0.100", {"registry": "10.0.0.9"})
    assert [entry["address"] for entry in entries] == ["10.0.0.9", "10.0.0.100"]


def test_names_are_lowercased_and_dot_stripped():
    entries = build_hosts_entries({"gitea": "Gitea.Local."}, "10.0.0.1")
    assert entries == [{"address": "10.0.0.1", "names": ["gitea.local"]}]


def test_same_result_whatever_the_input_order():
    reordered = dict(reversed(list(SERVICES.items())))
    assert build_hosts_entries(SERVICES, "10.0.0.1") == build_hosts_entries(reordered, "10.0.0.1")


@pytest.mark.parametrize(
    ("services", "ingress", "direct", "message"),
    [
        ({}, "10.0.0.1", None, "non-empty mapping"),
        ({"gitea": "gitea_local"}, "10.0.0.1", None, "local_domains_services.gitea = 'gitea_local'"),
        ({"a": "x.local", "b": "X.local"}, "10.0.0.1", None, "both use 'x.local'"),
        ({"gitea": "gitea.local"}, "nope", None, "the ingress address 'nope' is invalid"),
        ({"registry": "registry.local"}, "10.0.0.1", {"registry": "300.1.1.1"}, "the address of 'registry'"),
        ({"gitea": "gitea.local"}, "10.0.0.1", {"registry": "10.0.0.2"}, "services without a domain: registry"),
        ({"gitea": "gitea.local"}, "10.0.0.1", ["registry"], "must be a mapping"),
    ],
)
def test_bad_input_is_refused_with_the_reason(services, ingress, direct, message):
    with pytest.raises(HostsEntriesError, match=message.replace(".", r"\.").replace("(", r"\(")):
        build_hosts_entries(services, ingress, direct)
