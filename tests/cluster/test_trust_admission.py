"""Trust boundaries of a gitops commit, enforced by the real API server (issue 18 item 2).

The objects are built by the same code the roles render them with
(plugins/module_utils/k8s/platform_objects.py) from inventory/sample's resolved values, and
applied to the control-plane tier's kube-apiserver v1.36.x: PodSecurity admission and the
Ingress host ValidatingAdmissionPolicy answer, not a model of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.platform_objects import (
    ingress_host_policy,
    ingress_object,
    namespace_object,
)
from controlplane import REPO, error_message
from resolved_vars import VARS_PLAYBOOK

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """local_domains_services and gauntlet_service_namespaces of inventory/sample, templated by Ansible."""
    work = tmp_path_factory.mktemp("sample-vars")
    (work / "vars.yml").write_text(VARS_PLAYBOOK)
    names = ["local_domains_services", "gauntlet_service_namespaces", "gauntlet_namespaces"]
    extra = {"__names": names, "__dest": str(work / "vars.json"), "__host": "localhost"}
    result = subprocess.run(
        ["ansible-playbook", "-i", str(REPO / "inventory/sample"), str(work / "vars.yml"), "-e", json.dumps(extra)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"},
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(Path(work / "vars.json").read_text())


def create_namespace(control_plane, name, **kwargs):
    namespaces = control_plane.resource("v1", "Namespace")
    try:
        namespaces.create(body=namespace_object(name, **kwargs))
    except Exception as error:
        if getattr(error, "status", None) != 409:
            raise


def refused(call):
    from kubernetes.client.rest import ApiException

    try:
        call()
    except ApiException as error:
        return error
    return None


def test_the_task_api_namespace_refuses_privileged_and_host_pods(control_plane, sample):
    namespace = sample["gauntlet_namespaces"]["task_api"]
    # What the cnpg role renders for the Task API's namespace: meshed, restricted.
    create_namespace(control_plane, namespace, pod_security="restricted", inject=True)
    pods = control_plane.resource("v1", "Pod")
    accounts = control_plane.resource("v1", "ServiceAccount")
    deadline = time.monotonic() + 60  # the ServiceAccount controller makes `default` first
    while not accounts.get(namespace=namespace).items and time.monotonic() < deadline:
        time.sleep(0.5)
    image = "registry.local:5000/gauntlet/task-api:0.1.0"
    attacks = {
        "privileged": {"containers": [{"name": "c", "image": image, "securityContext": {"privileged": True}}]},
        "hostpath": {
            "containers": [{"name": "c", "image": image, "volumeMounts": [{"name": "root", "mountPath": "/host"}]}],
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        },
        "hostnetwork": {"hostNetwork": True, "containers": [{"name": "c", "image": image}]},
    }
    for name, spec in attacks.items():
        error = refused(
            lambda n=name, s=spec: pods.create(namespace=namespace, body={"metadata": {"name": n}, "spec": s})
        )
        assert error is not None, f"{name} pod admitted in {namespace}"
        assert error.status == 403 and 'violates PodSecurity "restricted:latest"' in error_message(error), error
    compliant = {
        "metadata": {"name": "task-api"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": image, "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        },
    }  # fmt: skip
    assert pods.create(namespace=namespace, body=compliant).metadata.name == "task-api"


def test_an_ingress_for_another_namespaces_host_is_refused(control_plane, sample):
    services, owners = sample["local_domains_services"], sample["gauntlet_service_namespaces"]
    for obj in ingress_host_policy(services, owners):
        kind = obj["kind"]
        control_plane.resource("admissionregistration.k8s.io/v1", kind).create(body=obj)
    for namespace in sorted({owners["tasks"], owners["keycloak"]}):
        create_namespace(control_plane, namespace)
    ingresses = control_plane.resource("networking.k8s.io/v1", "Ingress")

    def ingress(namespace, service):
        name = f"{service}-{uuid.uuid4().hex[:6]}"
        body = ingress_object(name, namespace, services[service], "web", 8080)
        return lambda: ingresses.create(namespace=namespace, body=body)

    # A gitops commit (the Task API's namespace) publishing keycloak.local under the platform's certificate.
    deadline = time.monotonic() + 60  # the policy's informer syncs within seconds
    while (error := refused(ingress(owners["tasks"], "keycloak"))) is None and time.monotonic() < deadline:
        time.sleep(1)
    assert error is not None, "an Ingress for keycloak.local was admitted in the Task API's namespace"
    assert error.status in (403, 422), error
    assert "gauntlet-ingress-hosts" in error_message(error), error_message(error)
    # Each namespace still publishes its own host.
    assert refused(ingress(owners["tasks"], "tasks")) is None
    assert refused(ingress(owners["keycloak"], "keycloak")) is None
    # The registry is served directly: no namespace may publish it.
    assert refused(ingress(owners["tasks"], "registry")) is not None
