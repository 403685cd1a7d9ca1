"""The NetworkPolicy rule for meshed pods (docs/security.md "Meshed pods")."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.mesh_policy import FilterModule
from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.mesh_policy import (
    MeshPolicyError,
    allow_policy,
    mirror_inbound,
    mtls_policy,
    namespace_policies,
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


# --- namespace_policies: default deny plus the allow entries ---------------------------


def by_name(policies):
    return {p["metadata"]["name"]: p for p in policies}


def test_namespace_policies_deny_by_default_and_translate_the_allow_entries():
    allows = [
        {
            "name": "builds",
            "pods": {},
            "egress": [
                {"to": [{"namespace": "gitea", "pods": {"app.kubernetes.io/name": "gitea"}}], "ports": [3000]},
                {"ports": [443, "5000"]},
            ],
        },
        {"name": "web", "pods": {"component": "web"}, "ingress": [{"from": ["traefik"], "ports": ["8084/TCP"]}]},
    ]
    policies = by_name(namespace_policies("drone-builds", allows, egress=True))
    assert list(policies) == ["default-deny", "allow-dns", "builds", "web"]
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert policies["allow-dns"]["spec"]["egress"][0]["ports"] == [
        {"port": 53, "protocol": "UDP"},
        {"port": 53, "protocol": "TCP"},
    ]
    builds = policies["builds"]["spec"]
    assert builds["policyTypes"] == ["Egress"]
    assert builds["egress"][0]["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "gitea"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "gitea"}},
        }
    ]
    # No peers: any address (node addresses are no pods), on these ports only.
    assert builds["egress"][1] == {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 5000, "protocol": "TCP"}]}
    web = policies["web"]["spec"]
    assert web["podSelector"] == {"matchLabels": {"component": "web"}}
    assert web["ingress"][0]["from"][0]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "traefik"}}


def test_namespace_policies_deny_ingress_only_unless_asked():
    (deny,) = namespace_policies("keycloak")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_meshed_namespaces_follow_the_one_rule_and_get_the_proxy_ports():
    allows = [{"name": "app", "pods": {"a": "b"}, "ingress": [{"from": [{"namespace": "other"}], "ports": [8080]}]}]
    policies = by_name(namespace_policies("keycloak", allows, meshed=True, egress=True, linkerd_namespace="l5d"))
    assert list(policies) == ["default-deny", "allow-dns", "allow-linkerd-control-plane", "app", "linkerd-proxy"]
    assert {"port": 4143, "protocol": "TCP"} in policies["app"]["spec"]["ingress"][0]["ports"]
    control = policies["allow-linkerd-control-plane"]["spec"]["egress"][0]
    assert control["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "l5d"}}}]
    assert [p["port"] for p in control["ports"]] == [8080, 8086, 8090, 4143]
    # DNS is kube-system's: never meshed, no 4143.
    assert [p["port"] for p in policies["allow-dns"]["spec"]["egress"][0]["ports"]] == [53, 53]
    assert all(not rule_violations(p) for p in policies.values())


def test_peer_forms():
    spec = allow_policy(
        "n",
        {
            "name": "p",
            "ingress": [{"from": [{"namespace": "*"}, {"pods": {"x": "y"}}, {"namespace": "m", "pods": {}}]}],
        },
    )["spec"]
    assert spec["ingress"][0]["from"] == [
        {"namespaceSelector": {}},
        {"podSelector": {"matchLabels": {"x": "y"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "m"}}, "podSelector": {}},
    ]
    assert "ports" not in spec["ingress"][0]


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        ({"pods": {}}, "needs a name"),
        ({"name": "a"}, "needs ingress or egress"),
        ({"name": "a", "ingress": [{"from": ["nobody"]}]}, "unknown peer 'nobody'"),
        ({"name": "a", "ingress": [{"from": [{"ns": "x"}]}]}, "a peer is a name or a dictionary"),
        ({"name": "a", "ingress": [{"to": []}]}, "ingress rule has only from and ports"),
        ({"name": "a", "egress": [{"ports": ["http"]}]}, "a port is a number"),
        ({"name": "a", "egress": [{"ports": [70000]}]}, "a port is a number"),
        ({"name": "a", "egress": [{"to": []}]}, "non-empty list"),
        ({"name": "default-deny", "egress": [{"ports": [1]}]}, "used twice"),
    ],
)
def test_bad_allow_entries_are_named(allow, message):
    with pytest.raises(MeshPolicyError, match=message) as error:
        namespace_policies("ns", [allow])
    assert "ns" in str(error.value)


def test_namespace_network_policies_filter_reads_the_namespaces_contract():
    policies = F["namespace_network_policies"](
        "gitea", [], meshed=True, egress=True, namespaces={"linkerd": "l", "monitoring": "mon", "linkerd_viz": "v"}
    )
    control, proxy = by_name(policies)["allow-linkerd-control-plane"], by_name(policies)["linkerd-proxy"]
    assert control["spec"]["egress"][0]["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "l"
    }
    peers = proxy["spec"]["ingress"][0]["from"]
    assert [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in peers] == ["mon", "v"]
    with pytest.raises(AnsibleFilterError, match=r"namespace_network_policies: .*unknown peer"):
        F["namespace_network_policies"]("gitea", [{"name": "a", "ingress": [{"from": ["x"]}]}])


# --- mtls_policy: Linkerd Server, MeshTLSAuthentication, AuthorizationPolicy ----------


def test_mtls_policy_ties_a_server_to_the_client_identities():
    server, authn, authz = mtls_policy(
        "argocd",
        "argocd-redis",
        {"app.kubernetes.io/name": "argocd-redis"},
        6379,
        [{"serviceaccount": "argocd-server"}, {"namespace": "keycloak"}],
        proxy_protocol="opaque",
    )
    assert (server["apiVersion"], server["kind"]) == ("policy.linkerd.io/v1beta3", "Server")
    assert server["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "argocd-redis"}},
        "port": 6379,
        "accessPolicy": "deny",
        "proxyProtocol": "opaque",
    }
    assert authn["kind"] == "MeshTLSAuthentication"
    # No name: every ServiceAccount of that namespace; no namespace: the policy's own.
    assert authn["spec"]["identityRefs"] == [
        {"kind": "ServiceAccount", "name": "argocd-server"},
        {"kind": "ServiceAccount", "namespace": "keycloak"},
    ]
    assert authz["spec"]["targetRef"] == {"group": "policy.linkerd.io", "kind": "Server", "name": "argocd-redis"}
    assert authz["spec"]["requiredAuthenticationRefs"] == [
        {"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication", "name": authn["metadata"]["name"]}
    ]
    assert {o["metadata"]["namespace"] for o in (server, authn, authz)} == {"argocd"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "n", {"a": "b"}, 1, [{"namespace": "x"}]), "namespace must be"),
        (("ns", "n", {}, 1, [{"namespace": "x"}]), "pod_selector must be"),
        (("ns", "n", {"a": "b"}, 0, [{"namespace": "x"}]), "port must be"),
        (("ns", "n", {"a": "b"}, 1, []), "clients must be"),
        (("ns", "n", {"a": "b"}, 1, [{"user": "x"}]), "a client has serviceaccount"),
    ],
)
def test_mtls_policy_refuses_bad_input(args, message):
    with pytest.raises(MeshPolicyError, match=message):
        mtls_policy(*args)
    with pytest.raises(AnsibleFilterError, match="mesh_mtls_policy: "):
        F["mesh_mtls_policy"](*args)
