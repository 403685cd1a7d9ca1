import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.local_ca import (
    LocalCaError,
    name_constraints,
    name_problems,
)


def test_constraints_in_community_crypto_notation():
    assert name_constraints(["local", "Example.Local."], ["10.0.0.0/24", "10.0.0.0/24"]) == {
        "permitted": ["DNS:example.local", "DNS:local", "IP:10.0.0.0/24"],
        "excluded": [],
    }


def test_no_network_excludes_every_address():
    assert name_constraints(["local"], [])["excluded"] == ["IP:0.0.0.0/0", "IP:::/0"]


@pytest.mark.parametrize(
    ("dns", "ips", "message"),
    [
        ([], [], "local_ca_permitted_dns is empty"),
        (["*.local"], [], "is not a DNS name"),
        (["local"], ["10.0.0.1/24"], "not a network in CIDR form"),
        (["local"], "10.0.0.0/24", "must be a list"),
    ],
)
def test_bad_constraints(dns, ips, message):
    with pytest.raises(LocalCaError, match=message):
        name_constraints(dns, ips)


def test_name_problems():
    assert name_problems(["gitea.local", "local"], ["10.0.0.5"], ["local"], ["10.0.0.0/24"]) == []
    assert name_problems(["notlocal", "a.local.evil"], ["10.0.1.5", "x"], ["local"], ["10.0.0.0/24"]) == [
        "notlocal is outside the CA's DNS domains (local)",
        "a.local.evil is outside the CA's DNS domains (local)",
        "10.0.1.5 is outside the CA's networks (10.0.0.0/24)",
        "x is not an IP address",
    ]
    assert name_problems(["*.local"], [], ["local"], []) == [
        "*.local is a wildcard: issue certificates for the exact names"
    ]
