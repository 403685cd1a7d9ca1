"""The control-plane tier itself: real components, real behaviour, no way out of the namespace.

Each test asserts what the real kube-apiserver, controller manager, scheduler, kwok and helm do
(tests/controlplane.py, docs/testing.md "The control-plane tier").
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid

import pytest
import upstream
import yaml
from controlplane import API_SERVICE_IP, REPO

pytestmark = pytest.mark.controlplane

KUBERNETES_GO_MOD = REPO / "tests" / "cluster" / "controlplane" / "kubernetes" / "go.mod"
FIELD_MANAGER = "gauntlet-tests"


def pinned_kubernetes_version() -> str:
    return re.search(r"^require k8s\.io/kubernetes (v\S+)$", KUBERNETES_GO_MOD.read_text(), re.M).group(1)


def wait_for(what: str, check, timeout: float = 120, interval: float = 1.0):
    """check() until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last: {value!r})")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# --- the network rule ------------------------------------------------------------------------


def _connect_error(address: str, port: int) -> tuple[int | None, float]:
    began = time.monotonic()
    try:
        with socket.create_connection((address, port), timeout=5):
            return None, time.monotonic() - began
    except OSError as error:
        return error.errno, time.monotonic() - began


def test_namespace_has_only_loopback_and_no_route_out(netns):
    """From inside the namespace, the `kubernetes` Service address is unreachable at once."""
    links = netns.call(socket.if_nameindex)
    assert [name for _, name in links] == ["lo"]
    code, seconds = netns.call(_connect_error, API_SERVICE_IP, 443)
    assert code == errno.ENETUNREACH, (
        f"connect to {API_SERVICE_IP}:443 gave {code and errno.errorcode.get(code)}, not ENETUNREACH"
    )
    assert seconds < 1, f"took {seconds:.2f} s: it must fail at once, not time out"
    # A process started inside it (as every component is) gets the same answer.
    probe = f"import socket\ntry:\n    socket.create_connection(({API_SERVICE_IP!r}, 443), timeout=5)\nexcept OSError as e:\n    print(e.errno, e.strerror)"
    result = subprocess.run(
        netns.command(sys.executable, "-c", probe), capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.split(maxsplit=1) == [str(errno.ENETUNREACH), "Network is unreachable\n"]


def test_every_component_runs_inside_the_namespace(control_plane):
    inode = control_plane.netns.inode()
    assert os.stat("/proc/self/ns/net").st_ino != inode  # the test process itself is outside
    for name, proc in control_plane.processes.items():
        assert proc.poll() is None, f"{name} exited: {control_plane.log_tail(name)}"
        assert os.stat(f"/proc/{proc.pid}/ns/net").st_ino == inode, f"{name} is not in {control_plane.name}"


# --- the control plane -----------------------------------------------------------------------


def test_version_is_the_pinned_kubernetes(control_plane):
    version = json.loads(control_plane.get("/version"))
    assert version["gitVersion"] == pinned_kubernetes_version() == "v1.36.3"
    assert (version["major"], version["minor"]) == ("1", "36")


def test_simulated_nodes_become_ready(control_plane):
    from kubernetes import client

    core = control_plane.client(client.CoreV1Api)

    def ready_nodes():
        nodes = core.list_node(label_selector="type=kwok").items
        return sorted(
            n.metadata.name
            for n in nodes
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
        )

    names = wait_for("kwok nodes Ready", lambda: len(ready_nodes()) == 2 and ready_nodes(), timeout=60)
    assert names == ["kwok-agent-1", "kwok-server-1"]


def test_deployment_reaches_ready_replicas_on_simulated_nodes(control_plane):
    """Controller manager (Deployment, ReplicaSet, service accounts), scheduler and kwok together."""
    from kubernetes import client

    core = control_plane.client(client.CoreV1Api)
    apps = control_plane.client(client.AppsV1Api)
    namespace = unique("smoke")
    core.create_namespace({"metadata": {"name": namespace}})
    labels = {"app": "smoke"}
    apps.create_namespaced_deployment(namespace, {
        "metadata": {"name": "smoke"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "registry.invalid/never-pulled:1"}]}},
        },
    })  # fmt: skip
    deployment = wait_for(
        "Deployment smoke with 2 ready replicas",
        lambda: (d := apps.read_namespaced_deployment("smoke", namespace)).status.ready_replicas == 2 and d,
    )
    assert deployment.status.available_replicas == 2
    pods = core.list_namespaced_pod(namespace, label_selector="app=smoke").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.spec.node_name in ("kwok-server-1", "kwok-agent-1")  # bound by the scheduler
        assert pod.status.phase == "Running"
        assert pod.spec.service_account_name == "default"  # created by the controller manager
    core.delete_namespace(namespace)


def test_validating_admission_policy_is_enforced(control_plane):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = control_plane.client(client.CoreV1Api)
    admission = control_plane.client(client.AdmissionregistrationV1Api)
    namespace = unique("vap")
    policy = unique("no-forbidden-configmaps")
    core.create_namespace({"metadata": {"name": namespace, "labels": {"gauntlet.test/vap": namespace}}})
    admission.create_validating_admission_policy({
        "metadata": {"name": policy},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}]},
            "validations": [{"expression": "!has(object.data) || !('forbidden' in object.data)", "message": "data key 'forbidden' is not allowed here"}],
        },
    })  # fmt: skip
    admission.create_validating_admission_policy_binding({
        "metadata": {"name": policy},
        "spec": {"policyName": policy, "validationActions": ["Deny"], "namespaceSelector": {"matchLabels": {"gauntlet.test/vap": namespace}}},
    })  # fmt: skip

    def denied():
        try:
            core.create_namespaced_config_map(
                namespace, {"metadata": {"generateName": "bad-"}, "data": {"forbidden": "x"}}
            )
        except ApiException as error:
            return error
        return None  # the policy is not active yet (its informer syncs within seconds)

    error = wait_for("the ValidatingAdmissionPolicy denying a ConfigMap", denied, timeout=60)
    assert error.status in (403, 422), error
    assert policy in error.body and "data key 'forbidden' is not allowed here" in error.body
    assert not [cm for cm in core.list_namespaced_config_map(namespace).items if cm.metadata.name.startswith("bad-")]
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "good"}, "data": {"allowed": "x"}})
    admission.delete_validating_admission_policy_binding(policy)
    admission.delete_validating_admission_policy(policy)
    core.delete_namespace(namespace)


def test_pod_security_admission_enforces_the_namespace_level(control_plane):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = control_plane.client(client.CoreV1Api)
    namespace = unique("restricted")
    core.create_namespace(
        {"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {
            "containers": [{"name": "c", "image": "registry.invalid/x:1", "securityContext": {"privileged": True}}]
        },
    }
    with pytest.raises(ApiException) as raised:
        core.create_namespaced_pod(namespace, privileged)
    assert raised.value.status == 403
    assert 'violates PodSecurity "restricted:latest"' in raised.value.body
    restricted = {
        "metadata": {"name": "restricted"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "c", "image": "registry.invalid/x:1", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        },
    }  # fmt: skip
    core.create_namespaced_pod(namespace, restricted)
    core.delete_namespace(namespace)


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.gauntlet.test"},
    "spec": {
        "group": "smoke.gauntlet.test",
        "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
        "scope": "Namespaced",
        "versions": [{
            "name": "v1",
            "served": True,
            "storage": True,
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {"spec": {
                    "type": "object",
                    "required": ["size"],
                    "properties": {"size": {"type": "integer", "minimum": 1}, "max": {"type": "integer", "default": 10}},
                    "x-kubernetes-validations": [{"rule": "self.size <= self.max", "message": "size must not exceed max"}],
                }},
            }},
        }],
    },
}  # fmt: skip


def test_server_side_apply_of_a_crd_then_a_custom_resource(control_plane):
    """Real SSA: CRD established, CR defaulted by its schema, a CEL rule enforced, a reapply is a no-op."""
    from kubernetes.client.rest import ApiException
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    call = control_plane.netns.call
    dynamic = call(DynamicClient, control_plane.api_client())
    crds = call(dynamic.resources.get, api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    call(crds.server_side_apply, body=CRD, name=CRD["metadata"]["name"], field_manager=FIELD_MANAGER)

    def established():
        crd = call(crds.get, name=CRD["metadata"]["name"])
        return any(c["type"] == "Established" and c["status"] == "True" for c in crd.status.conditions or [])

    wait_for("CRD Established", established, timeout=60)

    def widgets_api():
        try:
            call(dynamic.resources.invalidate_cache)
            return call(dynamic.resources.get, api_version="smoke.gauntlet.test/v1", kind="Widget")
        except ResourceNotFoundError:
            return None

    widgets = wait_for("Widget served by discovery", widgets_api, timeout=60)
    namespace = unique("ssa")
    call(dynamic.resources.get(api_version="v1", kind="Namespace").create, body={"metadata": {"name": namespace}})
    widget = {
        "apiVersion": "smoke.gauntlet.test/v1",
        "kind": "Widget",
        "metadata": {"name": "one", "namespace": namespace},
        "spec": {"size": 3},
    }

    first = call(widgets.server_side_apply, body=widget, name="one", namespace=namespace, field_manager=FIELD_MANAGER)
    assert first.spec.size == 3 and first.spec.max == 10  # defaulted from the schema
    assert [m["manager"] for m in first.metadata.managedFields] == [FIELD_MANAGER]
    assert [m["operation"] for m in first.metadata.managedFields] == ["Apply"]
    again = call(widgets.server_side_apply, body=widget, name="one", namespace=namespace, field_manager=FIELD_MANAGER)
    assert again.metadata.resourceVersion == first.metadata.resourceVersion  # nothing changed: no write

    too_big = {**widget, "metadata": {"name": "two", "namespace": namespace}, "spec": {"size": 11}}
    with pytest.raises(ApiException) as raised:
        call(widgets.server_side_apply, body=too_big, name="two", namespace=namespace, field_manager=FIELD_MANAGER)
    assert raised.value.status == 422 and "size must not exceed max" in raised.value.body
    zero = {**widget, "metadata": {"name": "three", "namespace": namespace}, "spec": {"size": 0}}
    with pytest.raises(ApiException) as raised:
        call(widgets.server_side_apply, body=zero, name="three", namespace=namespace, field_manager=FIELD_MANAGER)
    assert raised.value.status == 422 and "should be greater than or equal to 1" in raised.value.body
    call(dynamic.resources.get(api_version="v1", kind="Namespace").delete, name=namespace)


# --- helm -------------------------------------------------------------------------------------


def test_helm_template_renders_the_k3s_traefik_chart(control_plane, tmp_path):
    """helm v4 renders the Traefik chart k3s v1.36.4 packages; the API server accepts its Deployment."""
    from kubernetes import client

    chart = upstream.path("traefik-helm-chart/v40.1.0/traefik")
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    values = yaml.safe_load((chart / "values.yaml").read_text())
    helm = str(control_plane.bin / "helm")
    env = dict(
        os.environ,
        HELM_CACHE_HOME=str(tmp_path / "cache"),
        HELM_CONFIG_HOME=str(tmp_path / "config"),
        HELM_DATA_HOME=str(tmp_path / "data"),
    )
    version = control_plane.run(helm, "version", "--template", "{{.Version}}", env=env)
    assert version.returncode == 0 and version.stdout.startswith("v4."), version
    rendered = control_plane.run(
        helm,
        "template",
        "traefik",
        str(chart),
        "--namespace",
        "kube-system",
        "--kube-version",
        pinned_kubernetes_version(),
        env=env,
    )
    assert rendered.returncode == 0, rendered.stderr
    objects = [o for o in yaml.safe_load_all(rendered.stdout) if o]
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == ["traefik"]
    image = deployments[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{values['image']['registry']}/{values['image']['repository']}:{meta['appVersion']}"
    apps = control_plane.client(client.AppsV1Api)
    accepted = apps.create_namespaced_deployment("kube-system", deployments[0], dry_run="All")
    assert accepted.metadata.name == "traefik" and accepted.spec.template.spec.containers[0].image == image


def test_report_memory(control_plane, record_property):
    """Resident memory of the components after the smoke tests (for docs/testing.md)."""
    rss = control_plane.rss_mib()
    assert set(rss) == {"kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    total = sum(rss.values())
    record_property("controlplane_rss_mib", round(total))
    print(
        f"control plane RSS MiB: {', '.join(f'{k} {v:.0f}' for k, v in rss.items())}; total {total:.0f}; started in {control_plane.timings['start_s']:.1f} s"
    )
    assert total < 4096, rss
