import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_list import (
    ImageListError,
    images_from_manifests,
    images_of_object,
)


def pod_spec(*images, init=(), ephemeral=()):
    return {
        "containers": [{"name": f"c{i}", "image": im} for i, im in enumerate(images)],
        "initContainers": [{"name": f"i{i}", "image": im} for i, im in enumerate(init)],
        "ephemeralContainers": [{"name": f"e{i}", "image": im} for i, im in enumerate(ephemeral)],
    }


def workload(kind, spec, api="apps/v1"):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": kind.lower()}, "spec": {"template": {"spec": spec}}}


def test_every_workload_kind():
    objs = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": pod_spec("pod:1", init=["init:1"], ephemeral=["debug:1"]),
        },
        workload("Deployment", pod_spec("deploy:1")),
        workload("StatefulSet", pod_spec("sts:1")),
        workload("DaemonSet", pod_spec("ds:1", init=["ds-init:1"])),
        workload("ReplicaSet", pod_spec("rs:1")),
        workload("ReplicationController", pod_spec("rc:1"), api="v1"),
        workload("Job", pod_spec("job:1"), api="batch/v1"),
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "cj"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": pod_spec("cron:1", init=["cron-init:1"])}}}},
        },
        {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "pt"},
            "template": {"spec": pod_spec("tpl:1")},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"image": "not-an-image"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": []}},
        None,
    ]
    names = [
        f"docker.io/library/{n}:1"
        for n in [
            "pod",
            "init",
            "debug",
            "deploy",
            "sts",
            "ds",
            "ds-init",
            "rs",
            "rc",
            "job",
            "cron",
            "cron-init",
            "tpl",
        ]
    ]
    assert images_from_manifests(objs) == sorted(names)


def test_custom_resources_and_env():
    objs = [
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": "pg"},
            "spec": {"imageName": "ghcr.io/cloudnative-pg/postgresql:17.5"},
        },
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Pooler",
            "metadata": {"name": "pool"},
            "spec": {"template": {"spec": pod_spec("ghcr.io/cloudnative-pg/pgbouncer:1.24.1")}},
        },
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "ClusterImageCatalog",
            "metadata": {"name": "cat"},
            "spec": {"images": [{"major": 16, "image": "ghcr.io/cloudnative-pg/postgresql:16.9"}]},
        },
        {
            "apiVersion": "k8s.keycloak.org/v2alpha1",
            "kind": "Keycloak",
            "metadata": {"name": "kc"},
            "spec": {"image": "quay.io/keycloak/keycloak:26.7.4"},
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": {"name": "k8s"},
            "spec": {
                "image": "quay.io/prometheus/prometheus:v3.5.0",
                "containers": [{"name": "x", "image": "quay.io/side/car:1"}],
            },
        },
        workload(
            "Deployment",
            {
                "containers": [
                    {
                        "name": "manager",
                        "image": "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0",
                        "env": [
                            {"name": "OPERATOR_IMAGE_NAME", "value": "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0"},
                            {"name": "RELATED_IMAGE_KEYCLOAK", "value": "quay.io/keycloak/keycloak:26.0.0"},
                            {"name": "OTHER", "value": "not/an:image"},
                            {
                                "name": "OPERATOR_NAMESPACE",
                                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                            },
                        ],
                        "args": [
                            "--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0"
                        ],
                    }
                ]
            },
        ),
    ]
    assert images_from_manifests(objs) == [
        "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0",
        "ghcr.io/cloudnative-pg/pgbouncer:1.24.1",
        "ghcr.io/cloudnative-pg/postgresql:16.9",
        "ghcr.io/cloudnative-pg/postgresql:17.5",
        "quay.io/keycloak/keycloak:26.0.0",
        "quay.io/keycloak/keycloak:26.7.4",
        "quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0",
        "quay.io/prometheus/prometheus:v3.5.0",
        "quay.io/side/car:1",
    ]


def test_list_kind_and_raw():
    lst = {"apiVersion": "v1", "kind": "List", "items": [workload("Deployment", pod_spec("nginx", "nginx:latest"))]}
    assert images_from_manifests([lst]) == ["docker.io/library/nginx:latest"]
    assert images_from_manifests(lst, normalize=False) == ["nginx", "nginx:latest"]
    assert images_of_object(workload("Deployment", pod_spec("a:1"))) == ["a:1"]


def test_errors_name_the_object():
    with pytest.raises(ImageListError, match="Deployment web"):
        images_from_manifests(
            [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "web"},
                    "spec": {"template": {"spec": pod_spec("Bad:Image")}},
                }
            ]
        )
    with pytest.raises(ImageListError, match="empty"):
        images_from_manifests(
            [{"kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "x", "image": ""}]}}]
        )
    with pytest.raises(ImageListError, match="list"):
        images_from_manifests("text")
    with pytest.raises(ImageListError, match="mapping"):
        images_from_manifests([42])


def test_upstream_cnpg_manifest():
    """The real CloudNativePG release manifest yields its operator image."""
    import upstream

    yaml = pytest.importorskip("yaml")
    path = upstream.path("cloudnative-pg/1.30.0/cnpg-1.30.0.yaml")
    objs = list(yaml.safe_load_all(path.read_text()))
    assert images_from_manifests(objs) == ["ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0"]


def test_upstream_kube_prometheus_manifests():
    """Operator-managed images (Prometheus spec.image, config-reloader argument) are found."""
    import upstream

    yaml = pytest.importorskip("yaml")
    objs = []
    for path in upstream.glob("kube-prometheus/v0.18.0/manifests/*.yaml"):  # not setup/: CRDs only
        objs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    images = images_from_manifests(objs)
    assert "quay.io/prometheus-operator/prometheus-config-reloader:v0.92.0" in images
    assert any(i.startswith("quay.io/prometheus/prometheus:") for i in images)
    assert any(i.startswith("quay.io/prometheus/alertmanager:") for i in images)
