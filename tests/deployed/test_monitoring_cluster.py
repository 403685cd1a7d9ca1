"""The monitoring stack on a real cluster (after `playbooks/platform.yml --tags monitoring`).

Talks to the cluster of KUBECONFIG only, through the API server (Prometheus and Grafana
through the API server's service proxy); skipped without KUBECONFIG.
"""

import json
import os

import pytest

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"),
        reason="needs a cluster: set KUBECONFIG to a kubeconfig of a platform with the monitoring role applied",
    ),
]

NS = "monitoring"


@pytest.fixture(scope="module")
def api():
    from kubernetes import client, config

    config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    return client.ApiClient()


def proxy_get(api, service, path, **query):
    """GET a path of a Service in namespace monitoring through the API server's service proxy."""
    response = api.call_api(
        f"/api/v1/namespaces/{NS}/services/{service}/proxy{path}",
        "GET",
        query_params=list(query.items()),
        auth_settings=["BearerToken"],
        _preload_content=False,
    )[0]
    return json.loads(response.data)


def test_crds_are_established(api):
    from kubernetes import client

    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    ours = {c.metadata.name: c for c in crds if c.spec.group == "monitoring.coreos.com"}
    assert len(ours) == 10, sorted(ours)
    for name, crd in ours.items():
        assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions), name


def test_workloads_are_rolled_out(api):
    from kubernetes import client

    apps = client.AppsV1Api(api)
    for name in ("prometheus-operator", "kube-state-metrics", "grafana"):
        deployment = apps.read_namespaced_deployment(name, NS)
        assert deployment.status.ready_replicas == deployment.spec.replicas, name
    daemonset = apps.read_namespaced_daemon_set("node-exporter", NS)
    assert daemonset.status.number_ready == daemonset.status.desired_number_scheduled > 0
    custom = client.CustomObjectsApi(api)
    for plural, name in (("prometheuses", "k8s"), ("alertmanagers", "main")):
        obj = custom.get_namespaced_custom_object("monitoring.coreos.com", "v1", NS, plural, name)
        conditions = {c["type"]: c["status"] for c in obj.get("status", {}).get("conditions", [])}
        assert conditions.get("Available") == "True", (plural, conditions)


def test_namespace_enforces_privileged_and_pods_are_not_privileged_beyond_node_exporter(api):
    from kubernetes import client

    core = client.CoreV1Api(api)
    labels = core.read_namespace(NS).metadata.labels
    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
    for pod in core.list_namespaced_pod(NS).items:
        if pod.metadata.name.startswith("node-exporter-"):
            continue
        assert not pod.spec.host_network and not pod.spec.host_pid, pod.metadata.name


def test_prometheus_scrapes_the_core_jobs(api):
    targets = proxy_get(api, "prometheus-k8s:web", "/api/v1/targets", state="active")["data"]["activeTargets"]
    health = {}
    for target in targets:
        health.setdefault(target["labels"]["job"], set()).add(target["health"])
    for job in ("apiserver", "kubelet", "coredns", "node-exporter", "kube-state-metrics", "prometheus-k8s", "traefik"):
        assert "up" in health.get(job, set()), f"job {job}: {health.get(job)}"


def test_prometheus_loaded_the_platform_rules(api):
    groups = proxy_get(api, "prometheus-k8s:web", "/api/v1/rules")["data"]["groups"]
    names = {g["name"] for g in groups}
    assert {"gauntlet-task-api", "gauntlet-cnpg", "gauntlet-certificates", "gauntlet-nodes"} <= names
    assert "kubernetes-system-scheduler" not in names
    local_ca = proxy_get(
        api, "prometheus-k8s:web", "/api/v1/query", query="gauntlet_local_ca_expiration_timestamp_seconds"
    )
    assert local_ca["data"]["result"], "the local CA series is not recorded"


def test_grafana_is_healthy(api):
    health = proxy_get(api, "grafana:http", "/api/health")
    assert health["database"] == "ok"
