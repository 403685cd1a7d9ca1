"""Argo CD on a real cluster, after `ansible-playbook playbooks/platform.yml --tags argocd`.

Needs KUBECONFIG (the kubeconfig the k3s stage fetched) and, for the password check, the
inventory's credentials folder in GAUNTLET_CREDENTIALS_DIR (default inventory/sample/credentials).
"""

import base64
import os
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        not os.environ.get("KUBECONFIG"),
        reason="needs a cluster: set KUBECONFIG to one where playbooks/platform.yml --tags argocd ran",
    ),
]

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = os.environ.get("GAUNTLET_ARGOCD_NAMESPACE", "argocd")
CREDENTIALS = Path(os.environ.get("GAUNTLET_CREDENTIALS_DIR", REPO / "inventory/sample/credentials"))


@pytest.fixture(scope="module")
def api():
    from kubernetes import client, config

    config.load_kube_config()
    return {
        "core": client.CoreV1Api(),
        "apps": client.AppsV1Api(),
        "custom": client.CustomObjectsApi(),
        "exceptions": client.exceptions,
    }


def test_workloads_are_ready(api):
    for name in ("argocd-server", "argocd-repo-server", "argocd-redis"):
        deployment = api["apps"].read_namespaced_deployment(name, NAMESPACE)
        assert (deployment.status.ready_replicas or 0) >= 1, f"{name} is not ready"
    controller = api["apps"].read_namespaced_stateful_set("argocd-application-controller", NAMESPACE)
    assert (controller.status.ready_replicas or 0) >= 1


def test_no_initial_admin_secret(api):
    with pytest.raises(api["exceptions"].ApiException) as error:
        api["core"].read_namespaced_secret("argocd-initial-admin-secret", NAMESPACE)
    assert error.value.status == 404


def test_admin_password_matches_the_credential(api):
    from passlib.hash import bcrypt

    password_file = CREDENTIALS / "argocd" / "admin-password"
    if not password_file.is_file():
        pytest.skip(f"no credential at {password_file}: set GAUNTLET_CREDENTIALS_DIR to the inventory's credentials")
    secret = api["core"].read_namespaced_secret("argocd-secret", NAMESPACE)
    digest = base64.b64decode(secret.data["admin.password"]).decode()
    assert bcrypt.verify(password_file.read_text().rstrip("\n"), digest)
    assert "server.secretkey" in secret.data


def test_pods_are_meshed_and_upstream_restricted(api):
    pods = api["core"].list_namespaced_pod(NAMESPACE).items
    assert pods
    namespace = api["core"].read_namespace(NAMESPACE)
    meshed = (namespace.metadata.annotations or {}).get("linkerd.io/inject") == "enabled"
    for pod in pods:
        names = [c.name for c in (pod.spec.init_containers or []) + pod.spec.containers]
        if meshed:
            assert "linkerd-proxy" in names, f"{pod.metadata.name} has no Linkerd proxy"
        for container in pod.spec.containers:
            if container.name == "linkerd-proxy":
                continue
            context = container.security_context
            assert context and context.allow_privilege_escalation is False, f"{pod.metadata.name}/{container.name}"
            assert container.resources and container.resources.limits, f"{pod.metadata.name}/{container.name}"


def test_applications_are_synced_and_healthy(api):
    apps = api["custom"].list_namespaced_custom_object(
        "argoproj.io", "v1alpha1", NAMESPACE, "applications", label_selector="app.kubernetes.io/managed-by=gauntlet"
    )["items"]
    assert apps, "no Application made by the argocd role"
    for app in apps:
        status = app.get("status", {})
        conditions = [c.get("message") for c in status.get("conditions", [])]
        assert status.get("sync", {}).get("status") == "Synced", (app["metadata"]["name"], conditions)
        assert status.get("health", {}).get("status") == "Healthy", (app["metadata"]["name"], conditions)


def test_repository_secret_is_known_to_argocd(api):
    secrets = (
        api["core"].list_namespaced_secret(NAMESPACE, label_selector="argocd.argoproj.io/secret-type=repository").items
    )
    urls = {base64.b64decode(s.data["url"]).decode() for s in secrets}
    assert any(url.endswith("/gitops.git") for url in urls), urls
