"""The removal path's references and order (playbooks/remove.yml, role k8s_objects tasks/remove.yml)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_removal import FilterModule

REFS = FilterModule().filters()["k8s_object_refs"]
ORDER = FilterModule().filters()["k8s_removal_order"]


def obj(api_version, kind, name, namespace=None, **extra):
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def names(refs):
    return [f"{r['kind']}/{r['metadata']['name']}" for r in refs]


def test_refs_keep_only_what_a_deletion_needs():
    secret = obj("v1", "Secret", "grafana", "monitoring", data={"password": "c2VjcmV0"}, type="Opaque")
    secret["metadata"]["labels"] = {"a": "b"}
    assert REFS([secret], "monitoring") == [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "grafana", "namespace": "monitoring"},
            "component": "monitoring",
        }
    ]


def test_refs_name_the_bad_object():
    with pytest.raises(AnsibleFilterError, match=r"object #1 of monitoring has no apiVersion, kind or metadata\.name"):
        REFS([obj("v1", "Namespace", "a"), {"kind": "Secret", "metadata": {"name": "x"}}], "monitoring")


def test_webhooks_first_then_namespaced_then_cluster_scoped_then_namespaces_then_crds():
    applied = [
        obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "prometheuses.monitoring.coreos.com"),
        obj("v1", "Namespace", "monitoring"),
        obj("rbac.authorization.k8s.io/v1", "ClusterRole", "prometheus"),
        obj("apps/v1", "Deployment", "operator", "monitoring"),
        obj("monitoring.coreos.com/v1", "Prometheus", "k8s", "monitoring"),
        obj("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "prometheusrule-validate"),
        obj("apiregistration.k8s.io/v1", "APIService", "v1alpha1.tap.linkerd.io"),
        obj("v1", "Namespace", "node-exporter"),
        obj("v1", "ServiceAccount", "default", "monitoring"),
        obj("monitoring.coreos.com/v1", "ServiceMonitor", "kubelet", "kube-system"),
        obj("rbac.authorization.k8s.io/v1", "Role", "prometheus", "kube-system"),
    ]
    # monitoring's Deployment, Prometheus and ServiceAccount go with their Namespace; what the
    # list puts in kube-system (not deleted) is deleted one by one, custom resources included
    assert names(ORDER(applied)) == [
        "APIService/v1alpha1.tap.linkerd.io",
        "ValidatingWebhookConfiguration/prometheusrule-validate",
        "Role/prometheus",
        "ServiceMonitor/kubelet",
        "ClusterRole/prometheus",
        "Namespace/node-exporter",
        "Namespace/monitoring",
        "CustomResourceDefinition/prometheuses.monitoring.coreos.com",
    ]


def test_an_object_listed_twice_is_deleted_once():
    twice = [obj("v1", "Namespace", "monitoring"), obj("v1", "Namespace", "monitoring")]
    assert names(ORDER(twice)) == ["Namespace/monitoring"]
    # the same name in two namespaces is two objects
    assert len(ORDER([obj("v1", "ConfigMap", "a", "x"), obj("v1", "ConfigMap", "a", "y")])) == 2


def test_bad_input_is_a_clear_error():
    with pytest.raises(AnsibleFilterError, match="expected a list"):
        ORDER({"kind": "Namespace"})
    with pytest.raises(AnsibleFilterError, match="object #0 has no apiVersion"):
        ORDER([{"kind": "Namespace"}])
