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
from netpol import Pod, admitted, namespace_labels, policy_types, selects

REPO = Path(__file__).resolve().parents[2]
TASK_API = REPO / "gitops" / "task-api"
INBOUND, ADMIN, CONTROL = 4143, 4191, 4190
# Skipped by proxy-init at edge-26.8.3 (proxyInit.ignoreInboundPorts/ignoreOutboundPorts).
SKIPPED = {4567, 4568}
# Build pods fetch registry tokens from the registry host's token server (roles/registry).
REGISTRY_TOKEN_PORT = int(
    yaml.safe_load((REPO / "roles/registry/defaults/main.yml").read_text())["registry_token_port"]
)


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


def _cronjob(everything, namespace, name, meshed_namespaces) -> Pod:
    (obj,) = [o for o in everything if o["kind"] == "CronJob" and o["metadata"]["name"] == name
              and o["metadata"].get("namespace") == namespace]  # fmt: skip
    template = obj["spec"]["jobTemplate"]["spec"]["template"]
    inject = (template["metadata"].get("annotations") or {}).get("linkerd.io/inject")
    meshed = inject == "enabled" or (namespace in meshed_namespaces and inject != "disabled")
    return Pod(namespace, dict(template["metadata"]["labels"]), meshed)


@pytest.fixture(scope="module")
def pods(everything) -> dict[str, Pod]:
    meshed = _meshed_namespaces(everything)

    def w(namespace, name):
        return _workload(everything, namespace, name, meshed)

    (prometheus,) = [o for o in everything if o["kind"] == "Prometheus"]
    (alertmanager,) = [o for o in everything if o["kind"] == "Alertmanager"]
    (cluster,) = [o for o in everything if o["kind"] == "Cluster" and o["apiVersion"].startswith("postgresql.cnpg.io")]
    db_ns = cluster["metadata"]["namespace"]
    (runner,) = [o for o in everything if o["kind"] == "Deployment" and o["metadata"]["name"] == "drone-runner"]
    (builds_ns,) = [
        e["value"]
        for e in runner["spec"]["template"]["spec"]["containers"][0]["env"]
        if e["name"] == "DRONE_NAMESPACE_DEFAULT"
    ]
    return {
        "task-api": w("task-api", "task-api"),
        "keycloak": w("keycloak", "keycloak"),
        "gitea": w("gitea", "gitea"),
        "drone": w("drone", "drone"),
        "argocd-server": w("argocd", "argocd-server"),
        "argocd-repo-server": w("argocd", "argocd-repo-server"),
        "argocd-redis": w("argocd", "argocd-redis"),
        "argocd-application-controller": w("argocd", "argocd-application-controller"),
        "argocd-applicationset-controller": w("argocd", "argocd-applicationset-controller"),
        "argocd-notifications-controller": w("argocd", "argocd-notifications-controller"),
        "prometheus-operator": w("monitoring", "prometheus-operator"),
        "kube-state-metrics": w("monitoring", "kube-state-metrics"),
        # linkerd2-cni chart (cni-plugin.yaml): the DaemonSet's pods, k8s-app=linkerd-cni.
        "linkerd-cni": Pod("linkerd-cni", {"k8s-app": "linkerd-cni"}, False),
        "grafana": w("monitoring", "grafana"),
        # Pods the operators and charts create (labels as they set them):
        # prometheus-operator adds prometheus=<name> to the CR's podMetadata labels.
        "prometheus": Pod(
            "monitoring", {**prometheus["spec"]["podMetadata"]["labels"], "prometheus": "k8s"}, "monitoring" in meshed
        ),
        # prometheus-operator adds alertmanager=<name> to the CR's podMetadata labels.
        "alertmanager": Pod(
            "monitoring",
            {**alertmanager["spec"]["podMetadata"]["labels"], "alertmanager": "main"},
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
        # Drone's build pods (drone-runner-kube creates them in DRONE_NAMESPACE_DEFAULT with
        # labels of its own): untrusted code; every policy there selects all pods.
        "build": Pod(builds_ns, {"io.drone": "build"}, builds_ns in meshed),
        "drone-runner": w("drone", "drone-runner"),
        # The drone role's secret extension (roles/drone/files/secret_extension.py).
        "drone-secret-extension": w("drone", "drone-secret-extension"),
        # The drone role's gitops promotion CronJob (its Job pods carry the template's labels).
        "gitops-promote": _cronjob(everything, "drone", "drone-gitops-promote", meshed),
        "cnpg-operator": w("cnpg-system", "cnpg-controller-manager"),
        "postgres-replica": Pod(
            db_ns, {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/instanceRole": "replica"}, db_ns in meshed
        ),
        "keycloak-peer": w("keycloak", "keycloak"),
        # linkerd-viz chart templates/web.yaml, metrics-api.yaml: pod labels.
        "viz-web": Pod("linkerd-viz", {"component": "web", "linkerd.io/extension": "viz"}, True),
        "viz-metrics-api": Pod("linkerd-viz", {"component": "metrics-api", "linkerd.io/extension": "viz"}, True),
        "viz-tap-injector": Pod("linkerd-viz", {"component": "tap-injector", "linkerd.io/extension": "viz"}, True),
        "linkerd-proxy-injector": Pod("linkerd", {"linkerd.io/control-plane-component": "proxy-injector"}, True),
        # Host-network endpoints: the API server (6443, and the caller of admission
        # webhooks and APIServices), the registry on the node address (5000), Traefik on
        # the ingress address (443, k3s ServiceLB).
        "api-server": Pod("", {}, False, host=True),
        # Any other node address: kubelet 10250, node-exporter 9100 (host network), etcd
        # 2379, SSH 22 (the "10.0.0.0/8, any port" of the review).
        "node": Pod("", {}, False, host=True),
        "registry": Pod("", {}, False, host=True),
        "registry-token": Pod("", {}, False, host=True),
        "ingress-address": Pod("", {}, False, host=True),
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
    # The repo-server clones gitops at Gitea's public name (argocd_gitops_repo_url, so Gitea's
    # push notices match the Application): through Traefik, on the ingress address.
    ("argocd-repo-server", "traefik", 8443, "TCP", False),
    ("argocd-repo-server", "ingress-address", 443, "TCP", False),
    # Gitea's push notices of gitops to Argo CD's /api/webhook (gitea_argocd_webhook_url:
    # Service argocd-server port 80 -> the pod's 8080).
    ("gitea", "argocd-server", 8080, "TCP", False),
    ("drone", "gitea", 3000, "TCP", False),
    ("gitops-promote", "gitea", 3000, "TCP", False),  # Gitea API (roles/drone/files/gitops_promote.py)
    ("gitops-promote", "registry-token", REGISTRY_TOKEN_PORT, "TCP", False),  # the registry's push record
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
    ("traefik", "grafana", 3000, "TCP", False),
    ("grafana", "prometheus", 9090, "TCP", False),
    ("prometheus", "alertmanager", 9093, "TCP", False),
    # CI builds: the clone from Gitea, DNS, the registry on the node address, Traefik on
    # the ingress address (a push to gitops, the package index); nothing else.
    ("build", "gitea", 3000, "TCP", False),
    ("build", "kube-dns", 53, "UDP", False),
    ("build", "kube-dns", 53, "TCP", False),
    ("build", "registry", 5000, "TCP", False),
    ("build", "registry-token", REGISTRY_TOKEN_PORT, "TCP", False),
    ("build", "ingress-address", 443, "TCP", False),
    ("drone-runner", "drone", 8080, "TCP", False),  # DRONE_RPC_HOST
    ("drone-runner", "drone-secret-extension", 3000, "TCP", False),  # DRONE_SECRET_PLUGIN_ENDPOINT
    ("prometheus", "gitea", 3000, "TCP", False),  # ServiceMonitor gitea
    ("prometheus", "keycloak", 9000, "TCP", False),  # ServiceMonitor keycloak (management)
    ("prometheus", "keycloak", ADMIN, "TCP", False),
    ("viz-tap", "keycloak", CONTROL, "TCP", False),
    ("keycloak-peer", "keycloak", 7800, "TCP", False),  # JGroups between Keycloak pods
    # CloudNativePG: the operator reaches instances on 8000 and 5432, instances each other
    # (replication), instances the API server; Prometheus the metrics ports.
    ("api-server", "cnpg-operator", 9443, "TCP", False),
    ("cnpg-operator", "postgres", 8000, "TCP", False),
    ("cnpg-operator", "postgres", 5432, "TCP", False),
    ("postgres-replica", "postgres", 5432, "TCP", False),
    ("postgres-replica", "postgres", 8000, "TCP", False),
    ("postgres", "api-server", 6443, "TCP", False),
    ("postgres", "kube-dns", 53, "UDP", False),
    ("prometheus", "postgres", 9187, "TCP", False),
    ("prometheus", "cnpg-operator", 8080, "TCP", False),
    # Linkerd: every proxy reaches the control plane; the API server its webhooks; both
    # Prometheus the admin ports.
    ("keycloak", "linkerd-identity", 8080, "TCP", True),
    ("gitea", "linkerd-destination", 8086, "TCP", True),
    ("drone-runner", "linkerd-destination", 8090, "TCP", True),
    ("api-server", "linkerd-proxy-injector", 8443, "TCP", False),
    ("api-server", "linkerd-destination", 8443, "TCP", False),  # sp-validator
    ("api-server", "linkerd-destination", 9443, "TCP", False),  # policy validator
    ("prometheus", "linkerd-destination", 9996, "TCP", False),
    ("viz-prometheus", "linkerd-identity", 9990, "TCP", False),
    ("prometheus", "linkerd-identity", ADMIN, "TCP", False),
    # linkerd-viz: the dashboard from Traefik only; its own flows.
    ("traefik", "viz-web", 8084, "TCP", False),
    ("viz-web", "viz-metrics-api", 8085, "TCP", False),
    ("viz-metrics-api", "viz-prometheus", 9090, "TCP", False),
    ("api-server", "viz-tap", 8089, "TCP", False),
    ("api-server", "viz-tap-injector", 8443, "TCP", False),
    ("prometheus", "viz-web", 9994, "TCP", False),
    ("viz-prometheus", "viz-tap", ADMIN, "TCP", False),
    # Argo CD, Grafana and Gitea reach Keycloak through its public issuer (Traefik on the
    # ingress address), Gitea reaches Drone's webhook the same way; operators and the
    # runner reach the API server.
    ("argocd-server", "ingress-address", 443, "TCP", False),
    ("grafana", "ingress-address", 443, "TCP", False),
    ("gitea", "ingress-address", 443, "TCP", False),
    ("drone", "ingress-address", 443, "TCP", False),
    ("drone-runner", "api-server", 6443, "TCP", False),
    ("cnpg-operator", "api-server", 6443, "TCP", False),
    ("argocd-application-controller", "api-server", 6443, "TCP", False),
    # Egress of every platform namespace (docs/security.md, "Egress by namespace"): each
    # component reaches DNS, the Linkerd control plane when meshed, and its own peers.
    # Argo CD (install.yaml v3.5.1: REDIS_SERVER, *_REPO_SERVER env; argocd-redis's
    # secret-init runs `argocd admin redis-initial-password` against the API server).
    ("argocd-repo-server", "kube-dns", 53, "UDP", False),
    ("argocd-repo-server", "argocd-redis", 6379, "TCP", False),
    ("argocd-server", "api-server", 6443, "TCP", False),
    ("argocd-server", "linkerd-identity", 8080, "TCP", True),
    ("argocd-redis", "api-server", 6443, "TCP", False),
    ("argocd-applicationset-controller", "argocd-repo-server", 8081, "TCP", False),
    ("argocd-applicationset-controller", "api-server", 6443, "TCP", False),
    ("argocd-notifications-controller", "argocd-repo-server", 8081, "TCP", False),
    ("argocd-notifications-controller", "api-server", 6443, "TCP", False),
    # Gitea, Keycloak: DNS, PostgreSQL (above), the control plane.
    ("gitea", "kube-dns", 53, "UDP", False),
    # Keycloak's issuer, Drone's webhooks: the ingress address, rewritten to Traefik's pod and
    # its websecure port (traefik chart v40.1.0 values.yaml ports.websecure.port 8443).
    ("gitea", "traefik", 8443, "TCP", False),
    ("argocd-server", "traefik", 8443, "TCP", False),
    ("grafana", "traefik", 8443, "TCP", False),
    ("gitea", "linkerd-identity", 8080, "TCP", True),
    ("keycloak", "kube-dns", 53, "UDP", False),
    ("keycloak", "linkerd-destination", 8086, "TCP", True),
    ("keycloak-peer", "keycloak", 57800, "TCP", False),
    # CloudNativePG's operator.
    ("cnpg-operator", "kube-dns", 53, "UDP", False),
    # Linkerd's control plane watches the API server; its proxies reach identity.
    ("linkerd-destination", "api-server", 6443, "TCP", False),
    ("linkerd-identity", "api-server", 6443, "TCP", False),
    ("linkerd-proxy-injector", "api-server", 6443, "TCP", False),
    ("linkerd-destination", "linkerd-identity", 8080, "TCP", True),
    ("linkerd-destination", "kube-dns", 53, "UDP", False),
    # linkerd-viz: the API server (web, metrics-api, tap, tap-injector; viz Prometheus's
    # discovery and cadvisor through kubernetes.default.svc), tap to every proxy's 4190,
    # viz Prometheus to the control plane's and viz's admin ports and every proxy's 4191.
    ("viz-web", "api-server", 6443, "TCP", False),
    ("viz-metrics-api", "api-server", 6443, "TCP", False),
    ("viz-tap", "api-server", 6443, "TCP", False),
    ("viz-tap-injector", "api-server", 6443, "TCP", False),
    ("viz-prometheus", "api-server", 6443, "TCP", False),
    ("viz-prometheus", "gitea", ADMIN, "TCP", False),
    ("viz-prometheus", "linkerd-destination", 9996, "TCP", False),
    ("viz-prometheus", "viz-web", 9994, "TCP", False),
    ("viz-web", "linkerd-identity", 8080, "TCP", True),
    # linkerd-cni: the API server (the chart's ClusterRole: pods, nodes, namespaces, services).
    ("linkerd-cni", "api-server", 6443, "TCP", False),
    ("linkerd-cni", "kube-dns", 53, "UDP", False),
    # Monitoring: Prometheus scrapes into every namespace and the nodes, finds targets in
    # the API server and sends alerts; the operator and kube-state-metrics watch the API.
    ("prometheus", "api-server", 6443, "TCP", False),
    ("prometheus", "node", 10250, "TCP", False),  # kubelet, cAdvisor
    ("prometheus", "node", 9100, "TCP", False),  # node-exporter (host network)
    ("prometheus", "kube-dns", 9153, "TCP", False),  # ServiceMonitor coredns
    ("prometheus", "kube-state-metrics", 8443, "TCP", False),
    ("prometheus", "kube-state-metrics", 9443, "TCP", False),
    ("prometheus", "prometheus-operator", 8443, "TCP", False),
    ("prometheus", "grafana", 3000, "TCP", False),
    ("prometheus", "viz-tap", 9998, "TCP", False),
    ("prometheus", "linkerd-proxy-injector", 9995, "TCP", False),
    ("prometheus", "kube-dns", 53, "UDP", False),
    ("grafana", "alertmanager", 9093, "TCP", False),
    ("alertmanager", "alertmanager", 9094, "TCP", False),  # cluster peers
    ("alertmanager", "alertmanager", 9094, "UDP", False),
    ("prometheus", "traefik", 9100, "TCP", False),  # ServiceMonitor traefik (metrics)
    ("grafana", "kube-dns", 53, "UDP", False),
    ("prometheus-operator", "api-server", 6443, "TCP", False),
    ("kube-state-metrics", "api-server", 6443, "TCP", False),
]

MUST_NOT_TALK = [
    ("gitea", "task-api", 8000, "TCP"),  # meshed: 4143 must not be open to everyone
    ("task-api", "gitea", 3000, "TCP"),  # egress stays closed
    ("task-api", "keycloak", 8080, "TCP"),  # keys over HTTPS through Traefik only, never plain HTTP
    ("drone", "argocd-redis", 6379, "TCP"),  # upstream's per-source rule still holds on 4143
    ("prometheus", "task-api", CONTROL, "TCP"),  # tap is viz's only
    ("stranger", "task-api", ADMIN, "TCP"),  # proxy metrics only for the two Prometheus
    ("stranger", "argocd-redis", 6379, "TCP"),
    ("drone", "postgres", 5432, "TCP"),  # Drone keeps SQLite (DRONE_DATABASE_DRIVER)
    ("gitops-promote", "postgres", 5432, "TCP"),  # the promoter talks to Gitea and the push record only
    ("gitops-promote", "registry", 5000, "TCP"),  # it reads the push record, never the registry
    # Egress of the drone namespace: each pod reaches what it uses, nothing else.
    ("gitops-promote", "keycloak", 8080, "TCP"),
    ("gitops-promote", "api-server", 6443, "TCP"),
    ("drone", "keycloak", 8080, "TCP"),
    ("drone", "api-server", 6443, "TCP"),
    ("drone-runner", "gitea", 3000, "TCP"),
    ("drone-runner", "keycloak", 8080, "TCP"),
    # The secret extension holds the main-only secrets: the runner reaches it, nothing else, and
    # it reaches nothing.
    ("drone", "drone-secret-extension", 3000, "TCP"),
    ("gitops-promote", "drone-secret-extension", 3000, "TCP"),
    ("build", "drone-secret-extension", 3000, "TCP"),
    ("stranger", "drone-secret-extension", 3000, "TCP"),
    ("traefik", "drone-secret-extension", 3000, "TCP"),
    ("drone-secret-extension", "gitea", 3000, "TCP"),
    ("drone-secret-extension", "drone", 8080, "TCP"),
    ("drone-secret-extension", "api-server", 6443, "TCP"),
    ("drone-secret-extension", "ingress-address", 443, "TCP"),
    # CI build pods run untrusted code: no internal service beyond the clone.
    ("build", "postgres", 5432, "TCP"),
    ("build", "postgres", 8000, "TCP"),
    ("build", "keycloak", 8080, "TCP"),
    ("build", "keycloak", 9000, "TCP"),
    ("build", "drone", 8080, "TCP"),
    ("build", "argocd-server", 8080, "TCP"),
    ("build", "argocd-repo-server", 8081, "TCP"),
    ("build", "grafana", 3000, "TCP"),
    ("build", "prometheus", 9090, "TCP"),
    ("build", "cnpg-operator", 9443, "TCP"),
    ("build", "linkerd-identity", 8080, "TCP"),
    ("build", "task-api", 8000, "TCP"),
    ("build", "viz-web", 8084, "TCP"),
    ("build", "api-server", 6443, "TCP"),  # no token, and no route either
    # The viz dashboard holds cluster-wide tap: Traefik (with its basic auth) only.
    ("stranger", "viz-web", 8084, "TCP"),
    ("task-api", "viz-web", 8084, "TCP"),
    ("gitea", "viz-web", 8084, "TCP"),
    ("grafana", "viz-web", 8084, "TCP"),
    ("prometheus", "viz-web", 8084, "TCP"),
    ("viz-tap", "viz-web", 8084, "TCP"),
    # PostgreSQL: its applications, the operator and its peers only.
    ("stranger", "postgres", 5432, "TCP"),
    ("grafana", "postgres", 5432, "TCP"),
    ("argocd-repo-server", "postgres", 5432, "TCP"),
    ("postgres", "gitea", 3000, "TCP"),  # database egress is closed
    # Keycloak: Traefik, the Task API (JWKS), Prometheus (9000), its peers.
    ("stranger", "keycloak", 8080, "TCP"),
    ("argocd-repo-server", "keycloak", 8080, "TCP"),
    ("stranger", "keycloak", 7800, "TCP"),
    ("stranger", "gitea", 3000, "TCP"),
    ("stranger", "drone", 8080, "TCP"),
    ("stranger", "drone-runner", 3000, "TCP"),
    ("stranger", "cnpg-operator", 8080, "TCP"),
    ("stranger", "linkerd-identity", 9990, "TCP"),
    ("stranger", "viz-metrics-api", 8085, "TCP"),
    ("stranger", "viz-prometheus", 9090, "TCP"),
    ("stranger", "argocd-server", 8080, "TCP"),
    # Egress of every platform namespace: nothing beyond each component's own flows. A pod
    # in `default` (no policy there) and node addresses on ports nobody serves to them
    # stand for "any address, any port".
    ("gitea", "keycloak", 9000, "TCP"),  # Keycloak's management port: Prometheus only
    ("gitea", "keycloak", 8080, "TCP"),  # OIDC through Traefik only
    ("gitea", "api-server", 6443, "TCP"),  # no token mounted, no need
    ("gitea", "stranger", 8080, "TCP"),
    ("gitea", "node", 10250, "TCP"),
    ("gitea", "drone", 8080, "TCP"),  # webhooks through Traefik (https://<drone domain>)
    ("keycloak", "gitea", 3000, "TCP"),
    ("keycloak", "api-server", 6443, "TCP"),
    ("keycloak", "stranger", 8080, "TCP"),
    ("keycloak", "node", 2379, "TCP"),
    ("keycloak", "ingress-address", 443, "TCP"),  # Keycloak calls no other service
    ("keycloak", "traefik", 8443, "TCP"),
    ("argocd-server", "postgres", 5432, "TCP"),
    ("argocd-application-controller", "postgres", 5432, "TCP"),
    ("argocd-repo-server", "api-server", 6443, "TCP"),  # upstream mounts it no token
    ("argocd-repo-server", "stranger", 8080, "TCP"),
    ("argocd-server", "stranger", 8080, "TCP"),
    ("argocd-server", "node", 10250, "TCP"),
    ("argocd-redis", "stranger", 6379, "TCP"),
    ("cnpg-operator", "gitea", 3000, "TCP"),
    ("cnpg-operator", "stranger", 8080, "TCP"),
    ("cnpg-operator", "node", 22, "TCP"),
    ("linkerd-destination", "stranger", 8080, "TCP"),
    ("linkerd-identity", "node", 10250, "TCP"),
    ("viz-web", "stranger", 8080, "TCP"),
    ("viz-tap", "node", 10250, "TCP"),
    ("linkerd-cni", "stranger", 8080, "TCP"),
    ("linkerd-cni", "node", 10250, "TCP"),
    # Monitoring pods: no application's admin or data ports, no arbitrary address.
    ("grafana", "gitea", 3000, "TCP"),
    ("grafana", "keycloak", 9000, "TCP"),
    ("grafana", "stranger", 8080, "TCP"),
    ("grafana", "node", 10250, "TCP"),
    ("grafana", "api-server", 6443, "TCP"),
    ("prometheus", "stranger", 8080, "TCP"),
    ("prometheus", "node", 22, "TCP"),
    ("prometheus", "node", 2379, "TCP"),
    ("alertmanager", "stranger", 8080, "TCP"),
    ("alertmanager", "gitea", 3000, "TCP"),
    ("kube-state-metrics", "stranger", 8080, "TCP"),
    ("kube-state-metrics", "node", 10250, "TCP"),
    ("prometheus-operator", "stranger", 8080, "TCP"),
]


def test_every_platform_namespace_denies_by_default(everything, policies):
    # Every namespace the platform creates (roles and gitops) isolates all its pods for
    # ingress; those running untrusted or data-holding pods for egress too. kube-system is
    # k3s's own and is left as k3s ships it.
    namespaces = {o["metadata"]["name"] for o in everything if o["kind"] == "Namespace"} - {"kube-system"}
    assert {"database", "cnpg-system", "keycloak", "gitea", "drone", "drone-builds", "linkerd", "linkerd-viz",
            "argocd", "monitoring", "task-api"} <= namespaces  # fmt: skip

    def denies(namespace, kind):
        return any(
            p["metadata"]["namespace"] == namespace
            and p["spec"].get("podSelector") in ({}, None)
            and kind in policy_types(p)
            and not p["spec"].get(kind.lower())
            for p in policies
        )

    missing = sorted(n for n in namespaces if not denies(n, "Ingress"))
    assert not missing, f"namespaces without a default-deny ingress NetworkPolicy: {missing}"
    builds = {e["value"] for o in everything if o["kind"] == "Deployment" and o["metadata"]["name"] == "drone-runner"
              for e in o["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "DRONE_NAMESPACE_DEFAULT"}  # fmt: skip
    # Egress closed in every platform namespace (issue 18 item 7; docs/security.md "Egress
    # by namespace"): default deny both ways, then each component's own flows.
    closed = builds | {"database", "task-api", "drone", "node-exporter", "argocd", "cnpg-system", "gitea",
                       "keycloak", "linkerd", "linkerd-viz", "linkerd-cni", "monitoring"}  # fmt: skip
    assert closed <= namespaces | builds
    missing = sorted(n for n in closed if not denies(n, "Egress"))
    assert not missing, f"namespaces without a default-deny egress NetworkPolicy: {missing}"


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


# Flows the server's own policy refuses too, not only the client's egress: a rule left at
# one end is a flow waiting for the other end to open.
REFUSED_BY_THE_SERVER = [
    ("task-api", "keycloak", 8080, "TCP"),  # the Task API fetches keys at https://keycloak.local
]


@pytest.mark.parametrize("flow", REFUSED_BY_THE_SERVER, ids=_flow_id)
def test_the_server_refuses_the_flow_itself(flow, policies, pods):
    client, server, port, protocol = flow
    on_wire = wire_port(pods[client], pods[server], port)
    _egress, ingress = admitted(policies, pods[client], pods[server], on_wire, protocol)
    assert not ingress, f"{server}'s policy admits {client} on {on_wire}/{protocol} (app port {port})"


def test_the_pairs_of_the_table_are_meshed_as_the_platform_says(pods):
    # The table's port choices rest on these; a change of gauntlet_linkerd_inject_namespaces
    # must show up here, not silently turn 4143 flows into app-port flows.
    assert all(pods[n].meshed for n in ("task-api", "keycloak", "gitea", "drone", "argocd-server", "argocd-redis"))
    assert not any(pods[n].meshed for n in ("prometheus", "traefik", "grafana", "postgres", "build", "cnpg-operator"))


# --- Linkerd authorization: where mTLS is required ---------------------------------------
#
# policy.linkerd.io semantics (linkerd-crds chart edge-26.8.3, templates/policy/): a
# Server selects pods and one port (number or container port name); with one, traffic to
# that port is denied unless an AuthorizationPolicy targeting the Server admits it (the
# Server's accessPolicy, default deny); an AuthorizationPolicy admits a client when ALL its
# requiredAuthenticationRefs hold; a MeshTLSAuthentication holds for a meshed client whose
# identity is one of identityRefs (kind ServiceAccount; no name: every ServiceAccount of
# the namespace; no namespace: the policy's own) or identities. Unmeshed clients have no
# identity. Ports without a Server keep the default inbound policy (all-unauthenticated).

# (client, server, port): both ends meshed; only the named identities may connect.
MTLS_REQUIRED = [
    ("argocd-server", "argocd-redis", 6379),
    ("argocd-application-controller", "argocd-redis", 6379),
    ("argocd-repo-server", "argocd-redis", 6379),
    ("argocd-server", "argocd-repo-server", 8081),
    ("argocd-application-controller", "argocd-repo-server", 8081),
    ("keycloak-peer", "keycloak", 7800),
    ("keycloak-peer", "keycloak", 57800),
]
# Meshed identities a required-mTLS port must refuse.
MTLS_REFUSED = [
    ("drone", "argocd-redis", 6379),
    ("gitea", "keycloak", 7800),
    ("task-api", "argocd-repo-server", 8081),
    ("keycloak", "argocd-redis", 6379),
]


def _service_account(everything, pod: Pod) -> str | None:
    for o in everything:
        if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"].get("namespace") == pod.namespace:
            template = o["spec"]["template"]
            if dict(template["metadata"]["labels"]) == pod.labels:
                return template["spec"].get("serviceAccountName", "default")
    return None


def _servers(everything, server: Pod, port: int) -> list[dict]:
    found = []
    for o in everything:
        if o["kind"] != "Server" or o["metadata"].get("namespace") != server.namespace:
            continue
        if not selects(o["spec"].get("podSelector"), server.labels):
            continue
        wanted = o["spec"]["port"]
        if wanted == port or (isinstance(wanted, str) and server.named_ports.get(wanted) == port):
            found.append(o)
    return found


def _authorized(everything, server_obj: dict, client: Pod, client_sa: str | None) -> bool:
    namespace = server_obj["metadata"]["namespace"]
    if server_obj["spec"].get("accessPolicy", "deny") != "deny":
        raise AssertionError(f"Server {server_obj['metadata']['name']}: only accessPolicy deny is modelled")
    objects = {(o["kind"], o["metadata"]["name"]): o for o in everything if o["metadata"].get("namespace") == namespace}
    for policy in (o for (kind, _unused), o in objects.items() if kind == "AuthorizationPolicy"):
        target = policy["spec"]["targetRef"]
        if (target.get("kind"), target.get("name")) != ("Server", server_obj["metadata"]["name"]):
            continue
        holds = []
        for ref in policy["spec"]["requiredAuthenticationRefs"]:
            assert ref["kind"] == "MeshTLSAuthentication", f"{ref['kind']} is not modelled"
            authn = objects.get(("MeshTLSAuthentication", ref["name"]))
            holds.append(
                authn is not None
                and client.meshed
                and any(
                    r["kind"] == "ServiceAccount"
                    and r.get("namespace", namespace) == client.namespace
                    and r.get("name", client_sa) == client_sa
                    for r in authn["spec"].get("identityRefs", [])
                )
            )
        if holds and all(holds):
            return True
    return False


@pytest.mark.parametrize("flow", MTLS_REQUIRED, ids=lambda f: f"{f[0]}->{f[1]}:{f[2]}")
def test_mtls_is_required_and_the_client_identity_is_admitted(flow, everything, pods):
    client, server, port = flow
    servers = _servers(everything, pods[server], port)
    assert servers, f"no Linkerd Server covers {server}:{port}: mTLS is not required there"
    assert pods[client].meshed and pods[server].meshed
    sa = _service_account(everything, pods[client])
    assert all(_authorized(everything, s, pods[client], sa) for s in servers), (
        f"{client} (ServiceAccount {sa}) is not authorized on {server}:{port}"
    )


@pytest.mark.parametrize("flow", MTLS_REFUSED, ids=lambda f: f"{f[0]}->{f[1]}:{f[2]}")
def test_mtls_ports_refuse_other_identities(flow, everything, pods):
    client, server, port = flow
    servers = _servers(everything, pods[server], port)
    assert servers, f"no Linkerd Server covers {server}:{port}"
    sa = _service_account(everything, pods[client])
    assert not any(_authorized(everything, s, pods[client], sa) for s in servers)


@pytest.mark.parametrize("flow", MUST_TALK, ids=_flow_id)
def test_linkerd_policy_does_not_block_a_needed_flow(flow, everything, pods):
    # A Server denies whoever no AuthorizationPolicy admits: unmeshed clients (Traefik,
    # Prometheus, build pods) must never meet one on the ports they use.
    client, server, port, _unused, proxy = flow
    if proxy or pods[server].host:
        return
    sa = _service_account(everything, pods[client])
    for server_obj in _servers(everything, pods[server], port):
        assert _authorized(everything, server_obj, pods[client], sa), (
            f"Linkerd Server {server_obj['metadata']['name']} refuses {client} on {server}:{port}"
        )


def test_linkerd_policy_objects_validate_against_the_upstream_crds(everything, render_tools):
    found = [o for o in everything if o["apiVersion"].startswith("policy.linkerd.io/")]
    assert {o["kind"] for o in found} >= {"Server", "AuthorizationPolicy", "MeshTLSAuthentication"}
    for obj in found:
        render_tools.validate_object(obj)


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


def test_host_endpoints_match_no_selector_and_are_never_isolated():
    host = Pod("", {}, False, host=True)
    everyone = _np("a", {}, ["Ingress", "Egress"], ingress=[{"from": [{"namespaceSelector": {}}]}],
                   egress=[{"to": [{"namespaceSelector": {}}]}])  # fmt: skip
    assert admitted([everyone], host, A, 80) == (True, False)  # selectors never match a node
    assert admitted([everyone], A, host, 80) == (False, True)
    port_only = _np(
        "a", {}, ["Ingress", "Egress"], ingress=[{"ports": [{"port": 80}]}], egress=[{"ports": [{"port": 80}]}]
    )
    assert admitted([port_only], host, A, 80) == (True, True)
    assert admitted([port_only], A, host, 80) == (True, True)


def test_wire_port_follows_linkerd():
    meshed_a, meshed_b = Pod("a", {}, True), Pod("b", {}, True)
    assert wire_port(meshed_a, meshed_b, 8080) == INBOUND
    assert wire_port(meshed_a, meshed_b, 5432) == INBOUND  # opaque: still the transport header
    assert wire_port(meshed_a, meshed_b, ADMIN) == ADMIN
    assert wire_port(A, meshed_b, 8080) == 8080
    assert wire_port(meshed_a, B, 8080) == 8080
    assert wire_port(meshed_a, meshed_b, 8086, proxy_originated=True) == 8086
