"""Every NetworkPolicy the platform ships admits the flows that must work, on the ports Linkerd uses.

Collected: every NetworkPolicy of playbooks/platform.yml's render (inventory/sample, the
session fixture platform_render) plus gitops/task-api (static YAML, namespace from its
kustomization). For each pair of workloads that must talk, the test computes with real
NetworkPolicy semantics (netpol.py) whether the connection is admitted at both ends on
the port it really uses on the wire, and that a few flows stay denied.

The port on the wire (Linkerd edge-26.8.3, read in the sources):
- charts/linkerd-control-plane/values.yaml: ``proxy.outboundTransportMode:
  transport-header``, ``proxy.ports.inbound: 4143``, ``admin: 4191``, ``control: 4190``,
  ``proxy.opaquePorts`` includes 5432 and 6379, ``proxyInit.ignoreInboundPorts`` /
  ``ignoreOutboundPorts: 4567,4568``; templates/destination.yaml passes the mode to the
  destination controller;
- linkerd2 controller/api/destination/endpoint_translator.go (createWeightedAddr): for a
  meshed destination pod, a port that is not skipped and not one of the proxy's own
  ports (admin, control: getPodMetaPorts) gets an opaque-transport hint to the pod's
  inbound port when the mode is transport-header *or* the port is opaque. So a meshed
  client reaches a meshed server on 4143 whatever the app port (opaque ports included);
  an unmeshed client, or an unmeshed server, on the app port; 4191/4190 always directly.
- The proxy's own control-plane connections (identity, destination, policy) are made by
  the proxy, not through its outbound listener: they use the app ports.
Pods Linkerd never injects: kube-system (proxyInjector.namespaceSelector in the chart values).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from netpol import Pod, admitted, namespace_labels

REPO = Path(__file__).resolve().parents[2]
TASK_API = REPO / "gitops" / "task-api"
INBOUND, ADMIN, CONTROL = 4143, 4191, 4190
# Skipped by proxy-init at edge-26.8.3 (proxyInit.ignoreInboundPorts/ignoreOutboundPorts).
SKIPPED = {4567, 4568}


def gitops_objects() -> list[dict]:
    kustomization = yaml.safe_load((TASK_API / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((TASK_API / resource).read_text()):
            if doc:
                if doc["kind"] != "Namespace":
                    doc["metadata"]["namespace"] = kustomization["namespace"]
                objects.append(doc)
    return objects


@pytest.fixture(scope="module")
def everything(platform_render) -> list[dict]:
    return list(platform_render.objects.values()) + gitops_objects()


@pytest.fixture(scope="module")
def policies(everything) -> list[dict]:
    found = [o for o in everything if o["kind"] == "NetworkPolicy"]
    assert {p["metadata"]["namespace"] for p in found} >= {"task-api", "argocd", "monitoring"}
    return found


def _meshed_namespaces(everything) -> set[str]:
    return {
        o["metadata"]["name"]
        for o in everything
        if o["kind"] == "Namespace" and (o["metadata"].get("annotations") or {}).get("linkerd.io/inject") == "enabled"
    }


def _workload(everything, namespace, name, meshed_namespaces) -> Pod:
    (obj,) = [
        o
        for o in everything
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
        and o["metadata"]["name"] == name
        and o["metadata"].get("namespace") == namespace
    ]
    template = obj["spec"]["template"]
    inject = (template["metadata"].get("annotations") or {}).get("linkerd.io/inject")
    ports = {
        p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", []) if "name" in p
    }
    meshed = inject == "enabled" or (namespace in meshed_namespaces and inject != "disabled")
    return Pod(namespace, dict(template["metadata"]["labels"]), meshed, ports)


@pytest.fixture(scope="module")
def pods(everything) -> dict[str, Pod]:
    meshed = _meshed_namespaces(everything)

    def w(namespace, name):
        return _workload(everything, namespace, name, meshed)

    (prometheus,) = [o for o in everything if o["kind"] == "Prometheus"]
    (cluster,) = [o for o in everything if o["kind"] == "Cluster" and o["apiVersion"].startswith("postgresql.cnpg.io")]
    db_ns = cluster["metadata"]["namespace"]
    return {
        "task-api": w("task-api", "task-api"),
        "keycloak": w("keycloak", "keycloak"),
        "gitea": w("gitea", "gitea"),
        "drone": w("drone", "drone"),
        "argocd-server": w("argocd", "argocd-server"),
        "argocd-repo-server": w("argocd", "argocd-repo-server"),
        "argocd-redis": w("argocd", "argocd-redis"),
        "argocd-application-controller": w("argocd", "argocd-application-controller"),
        "grafana": w("monitoring", "grafana"),
        # Pods the operators and charts create (labels as they set them):
        # prometheus-operator adds prometheus=<name> to the CR's podMetadata labels.
        "prometheus": Pod(
            "monitoring", {**prometheus["spec"]["podMetadata"]["labels"], "prometheus": "k8s"}, "monitoring" in meshed
        ),
        "alertmanager": Pod(
            "monitoring",
            {"app.kubernetes.io/name": "alertmanager", "app.kubernetes.io/instance": "main", "alertmanager": "main"},
            "monitoring" in meshed,
        ),
        # CloudNativePG labels instance pods cnpg.io/cluster=<cluster> and role.
        "postgres": Pod(
            db_ns, {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/instanceRole": "primary"}, db_ns in meshed
        ),
        # k3s's Traefik chart: app.kubernetes.io/name=traefik, instance <release>-<namespace>.
        "traefik": Pod(
            "kube-system",
            {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-kube-system"},
            False,
        ),
        "kube-dns": Pod("kube-system", {"k8s-app": "kube-dns"}, False),
        # linkerd-viz chart: its pods carry component=<name> and linkerd.io/extension=viz, meshed.
        "viz-prometheus": Pod("linkerd-viz", {"component": "prometheus", "linkerd.io/extension": "viz"}, True),
        "viz-tap": Pod("linkerd-viz", {"component": "tap", "linkerd.io/extension": "viz"}, True),
        "linkerd-destination": Pod("linkerd", {"linkerd.io/control-plane-component": "destination"}, True),
        "linkerd-identity": Pod("linkerd", {"linkerd.io/control-plane-component": "identity"}, True),
        # A pod the tests place in the default namespace: nothing should let it in.
        "stranger": Pod("default", {"app": "stranger"}, False),
    }


def wire_port(client: Pod, server: Pod, port: int, proxy_originated: bool = False) -> int:
    """The destination port a connection to server:port really has on the network."""
    if proxy_originated or port in (ADMIN, CONTROL) or port in SKIPPED:
        return port
    if client.meshed and server.meshed:
        return INBOUND  # transport-header mode, and opaque ports alike
    return port


# (client, server, app port, protocol, proxy-originated)
MUST_TALK = [
    ("task-api", "traefik", 8443, "TCP", False),  # JWKS at https://keycloak.local (W3; ssl_required all)
    ("prometheus", "task-api", ADMIN, "TCP", False),  # linkerd-proxy PodMonitor (W4)
    ("prometheus", "task-api", 8000, "TCP", False),  # the ServiceMonitor's /metrics
    ("viz-prometheus", "task-api", ADMIN, "TCP", False),
    ("viz-tap", "task-api", CONTROL, "TCP", False),
    ("traefik", "task-api", 8000, "TCP", False),
    ("task-api", "postgres", 5432, "TCP", False),
    ("task-api", "kube-dns", 53, "UDP", False),
    ("task-api", "kube-dns", 53, "TCP", False),
    ("task-api", "linkerd-destination", 8086, "TCP", True),
    ("task-api", "linkerd-destination", 8090, "TCP", True),
    ("task-api", "linkerd-identity", 8080, "TCP", True),
    ("argocd-repo-server", "gitea", 3000, "TCP", False),
    ("drone", "gitea", 3000, "TCP", False),
    ("argocd-server", "argocd-repo-server", 8081, "TCP", False),
    ("argocd-application-controller", "argocd-repo-server", 8081, "TCP", False),
    ("argocd-server", "argocd-redis", 6379, "TCP", False),
    ("argocd-application-controller", "argocd-redis", 6379, "TCP", False),
    ("traefik", "argocd-server", 8080, "TCP", False),
    ("prometheus", "argocd-application-controller", 8082, "TCP", False),
    ("prometheus", "argocd-repo-server", 8084, "TCP", False),
    ("prometheus", "argocd-server", ADMIN, "TCP", False),
    ("prometheus", "argocd-redis", ADMIN, "TCP", False),
    ("viz-prometheus", "argocd-redis", ADMIN, "TCP", False),
    ("viz-tap", "argocd-server", CONTROL, "TCP", False),
    ("traefik", "keycloak", 8080, "TCP", False),
    ("traefik", "gitea", 3000, "TCP", False),
    ("traefik", "drone", 8080, "TCP", False),
    ("keycloak", "postgres", 5432, "TCP", False),
    ("gitea", "postgres", 5432, "TCP", False),
    ("drone", "postgres", 5432, "TCP", False),
    ("traefik", "grafana", 3000, "TCP", False),
    ("grafana", "prometheus", 9090, "TCP", False),
    ("prometheus", "alertmanager", 9093, "TCP", False),
]

MUST_NOT_TALK = [
    ("gitea", "task-api", 8000, "TCP"),  # meshed: 4143 must not be open to everyone
    ("task-api", "gitea", 3000, "TCP"),  # egress stays closed
    ("task-api", "keycloak", 8080, "TCP"),  # keys over HTTPS through Traefik only, never plain HTTP
    ("drone", "argocd-redis", 6379, "TCP"),  # upstream's per-source rule still holds on 4143
    ("prometheus", "task-api", CONTROL, "TCP"),  # tap is viz's only
    ("stranger", "task-api", ADMIN, "TCP"),  # proxy metrics only for the two Prometheus
    ("stranger", "argocd-redis", 6379, "TCP"),
]


def _flow_id(flow):
    return f"{flow[0]}->{flow[1]}:{flow[2]}/{flow[3]}"


@pytest.mark.parametrize("flow", MUST_TALK, ids=_flow_id)
def test_needed_flow_is_admitted_on_the_port_linkerd_uses(flow, policies, pods):
    client, server, port, protocol, proxy = flow
    on_wire = wire_port(pods[client], pods[server], port, proxy)
    egress, ingress = admitted(policies, pods[client], pods[server], on_wire, protocol)
    assert egress, (
        f"{client} ({pods[client].namespace}) may not send to {server} on {on_wire}/{protocol} (app port {port})"
    )
    assert ingress, (
        f"{server} ({pods[server].namespace}) does not admit {client} on {on_wire}/{protocol} (app port {port})"
    )


@pytest.mark.parametrize("flow", MUST_NOT_TALK, ids=_flow_id)
def test_unneeded_flow_is_denied(flow, policies, pods):
    client, server, port, protocol = flow
    on_wire = wire_port(pods[client], pods[server], port)
    assert admitted(policies, pods[client], pods[server], on_wire, protocol) != (True, True), (
        f"{client} reaches {server} on {on_wire}/{protocol}"
    )


def test_the_pairs_of_the_table_are_meshed_as_the_platform_says(pods):
    # The table's port choices rest on these; a change of gauntlet_linkerd_inject_namespaces
    # must show up here, not silently turn 4143 flows into app-port flows.
    assert all(pods[n].meshed for n in ("task-api", "keycloak", "gitea", "drone", "argocd-server", "argocd-redis"))
    assert not any(pods[n].meshed for n in ("prometheus", "traefik", "grafana", "postgres"))


# --- the evaluator itself (so the checks above can fail) -------------------------------


def _np(namespace, selector, types, ingress=None, egress=None):
    spec = {"podSelector": selector, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": namespace}, "spec": spec}


A = Pod("a", {"app": "a"}, False, {"http": 8080})
B = Pod("b", {"app": "b"}, False)


def test_a_pod_no_policy_selects_admits_everything():
    assert admitted([_np("a", {"matchLabels": {"app": "x"}}, ["Ingress", "Egress"])], A, B, 1) == (True, True)


def test_isolation_is_per_direction():
    deny_ingress = _np("a", {}, ["Ingress"])
    assert admitted([deny_ingress], A, B, 1) == (True, True)  # A sends; B is not isolated
    assert admitted([deny_ingress], B, A, 1) == (True, False)


def test_peer_selectors_and_ports():
    same_ns_only = _np("b", {}, ["Ingress"], ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}])
    assert admitted([same_ns_only], A, B, 1)[1] is False  # podSelector alone: the policy's namespace
    both = _np(
        "b",
        {},
        ["Ingress"],
        ingress=[
            {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": namespace_labels("a")},
                        "podSelector": {"matchLabels": {"app": "a"}},
                    }
                ],
                "ports": [{"port": 9000, "endPort": 9010}],
            }
        ],
    )
    assert admitted([both], A, B, 9005)[1] is True
    assert admitted([both], A, B, 9011)[1] is False
    assert admitted([both], A, B, 9005, "UDP")[1] is False
    named = _np("a", {}, ["Ingress"], ingress=[{"ports": [{"port": "http"}]}])
    assert admitted([named], B, A, 8080)[1] is True
    assert admitted([named], B, A, 8081)[1] is False


def test_egress_rules_apply_to_the_client():
    egress = _np(
        "a",
        {},
        ["Egress"],
        egress=[
            {
                "to": [{"namespaceSelector": {"matchLabels": namespace_labels("b")}}],
                "ports": [{"port": 53, "protocol": "UDP"}],
            }
        ],
    )
    assert admitted([egress], A, B, 53, "UDP") == (True, True)
    assert admitted([egress], A, B, 53, "TCP") == (False, True)


def test_wire_port_follows_linkerd():
    meshed_a, meshed_b = Pod("a", {}, True), Pod("b", {}, True)
    assert wire_port(meshed_a, meshed_b, 8080) == INBOUND
    assert wire_port(meshed_a, meshed_b, 5432) == INBOUND  # opaque: still the transport header
    assert wire_port(meshed_a, meshed_b, ADMIN) == ADMIN
    assert wire_port(A, meshed_b, 8080) == 8080
    assert wire_port(meshed_a, B, 8080) == 8080
    assert wire_port(meshed_a, meshed_b, 8086, proxy_originated=True) == 8086
