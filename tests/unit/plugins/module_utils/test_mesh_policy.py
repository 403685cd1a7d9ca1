"""The NetworkPolicy rule for meshed pods (docs/security.md "Meshed pods")."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.mesh_policy import FilterModule
from ansible_collections.gauntlet.platform.plugins.module_utils.mesh_policy import (
    MeshPolicyError,
    mirror_inbound,
    proxy_ports_policy,
    rule_violations,
)

F = FilterModule().filters()
KUBE_SYSTEM = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}
KEYCLOAK = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keycloak"}}}


def policy(ingress=None, egress=None):
    spec = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    spec.update({k: v for k, v in (("ingress", ingress), ("egress", egress)) if v is not None})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "n"},
        "spec": spec,
    }


def test_every_tcp_app_port_rule_gains_4143_for_the_same_peers():
    original = policy(
        ingress=[{"from": [{"podSelector": {}}], "ports": [{"port": 6379, "protocol": "TCP"}]}],
        egress=[{"to": [KEYCLOAK], "ports": [{"port": 8080}]}],
    )
    meshed = mirror_inbound(original)
    assert meshed["spec"]["ingress"][0]["ports"] == [
        {"port": 6379, "protocol": "TCP"},
        {"port": 4143, "protocol": "TCP"},
    ]
    assert meshed["spec"]["egress"][0]["ports"][-1] == {"port": 4143, "protocol": "TCP"}
    assert meshed["spec"]["ingress"][0]["from"] == [{"podSelector": {}}]
    assert original["spec"]["ingress"][0]["ports"] == [{"port": 6379, "protocol": "TCP"}], "input untouched"
    assert rule_violations(original) and rule_violations(meshed) == []
    assert mirror_inbound(meshed) == meshed, "idempotent"


@pytest.mark.parametrize(
    "rule",
    [
        {"from": [KUBE_SYSTEM], "ports": [{"port": 8000}]},  # never meshed
        {"ports": [{"port": 53, "protocol": "UDP"}]},  # no TCP
        {"from": [{"podSelector": {}}]},  # every port already
        {"from": [KEYCLOAK], "ports": [{"port": 4191}, {"port": 4190}]},  # the proxy's own ports
        {"from": [KEYCLOAK], "ports": [{"port": 4000, "endPort": 5000}]},  # 4143 in the range
    ],
)
def test_rules_that_need_nothing_stay_as_they_are(rule):
    original = policy(ingress=[rule])
    assert mirror_inbound(original) == original
    assert rule_violations(original) == []


def test_proxy_ports_policy():
    made = proxy_ports_policy("task-api")
    assert made["metadata"]["namespace"] == "task-api"
    admin, control = made["spec"]["ingress"]
    assert admin["ports"] == [{"port": 4191, "protocol": "TCP"}]
    assert {p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in admin["from"]} == {
        "monitoring",
        "linkerd-viz",
    }
    assert control == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "linkerd-viz"}}}],
        "ports": [{"port": 4190, "protocol": "TCP"}],
    }
    assert rule_violations(made) == []


def test_bad_input():
    with pytest.raises(MeshPolicyError, match="NetworkPolicy"):
        mirror_inbound({"kind": "Service", "spec": {}})
    with pytest.raises(AnsibleFilterError, match="mesh_proxy_policy"):
        F["mesh_proxy_policy"]("")
    with pytest.raises(AnsibleFilterError, match="mesh_network_policy"):
        F["mesh_network_policy"]("not a policy")


def test_filter_maps_lists_and_leaves_unmeshed_alone():
    service = {"kind": "Service", "metadata": {"name": "s"}}
    original = [service, policy(ingress=[{"ports": [{"port": 80}]}])]
    assert F["mesh_network_policy"](original, meshed=False) is original
    meshed = F["mesh_network_policy"](original)
    assert meshed[0] is service
    assert meshed[1]["spec"]["ingress"][0]["ports"][-1]["port"] == 4143
