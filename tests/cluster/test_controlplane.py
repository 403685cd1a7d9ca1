"""The control-plane tier itself: real components, real behaviour, no way out of the namespace.

Each test asserts what the real kube-apiserver, controller manager, scheduler, kwok and helm do
(tests/controlplane.py, docs/testing.md "The control-plane tier").
"""

from __future__ import annotations

import errno
import ipaddress
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
from controlplane import API_SERVICE_IP, REPO, SERVICE_CIDR, error_message

pytestmark = pytest.mark.controlplane

KUBERNETES_GO_MOD = REPO / "tests" / "cluster" / "controlplane" / "kubernetes" / "go.mod"
FIELD_MANAGER = "gauntlet-tests"


def pinned_kubernetes_version() -> str:
    return re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes (v\S+)\s*$", KUBERNETES_GO_MOD.read_text(), re.M).group(1)


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
    assert [name for _unused, name in links] == ["lo"]
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
    code, _unused = control_plane.netns.call(_connect_error, API_SERVICE_IP, 443)
    assert code == errno.ENETUNREACH  # the control plane's namespace has no route out either
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


def ready(obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or []
    )


def test_simulated_nodes_become_ready(control_plane):
    nodes = control_plane.resource("v1", "Node")

    def ready_nodes():
        return sorted(
            n["metadata"]["name"] for n in nodes.get(label_selector="type=kwok").to_dict()["items"] if ready(n)
        )

    names = wait_for("both kwok nodes Ready", lambda: len(ready_nodes()) == 2 and ready_nodes(), timeout=60)
    assert names == ["kwok-agent-1", "kwok-server-1"]


def test_deployment_reaches_ready_replicas_on_simulated_nodes(control_plane):
    """Controller manager (Deployment, ReplicaSet, service accounts), scheduler and kwok together."""
    namespaces = control_plane.resource("v1", "Namespace")
    deployments = control_plane.resource("apps/v1", "Deployment")
    namespace = unique("smoke")
    namespaces.create(body={"metadata": {"name": namespace}})
    labels = {"app": "smoke"}
    deployments.create(namespace=namespace, body={
        "metadata": {"name": "smoke"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "registry.invalid/never-pulled:1"}]}},
        },
    })  # fmt: skip

    def ready_deployment():
        status = deployments.get(name="smoke", namespace=namespace).to_dict().get("status", {})
        return status.get("readyReplicas") == 2 and status

    status = wait_for("Deployment smoke with 2 ready replicas", ready_deployment)
    assert status["availableReplicas"] == 2
    pods = control_plane.resource("v1", "Pod").get(namespace=namespace, label_selector="app=smoke").to_dict()["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] in ("kwok-server-1", "kwok-agent-1")  # bound by the scheduler
        assert pod["status"]["phase"] == "Running" and ready(pod)
        assert pod["spec"]["serviceAccountName"] == "default"  # created by the controller manager
    namespaces.delete(name=namespace)


def test_validating_admission_policy_is_enforced(control_plane):
    from kubernetes.client.rest import ApiException

    namespaces = control_plane.resource("v1", "Namespace")
    configmaps = control_plane.resource("v1", "ConfigMap")
    policies = control_plane.resource("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy")
    bindings = control_plane.resource("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding")
    namespace = unique("vap")
    policy = unique("no-forbidden-configmaps")
    namespaces.create(body={"metadata": {"name": namespace, "labels": {"gauntlet.test/vap": namespace}}})
    policies.create(body={
        "metadata": {"name": policy},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["configmaps"]}
                ]
            },
            "validations": [{"expression": "!has(object.data) || !('forbidden' in object.data)", "message": "data key 'forbidden' is not allowed here"}],
        },
    })  # fmt: skip
    bindings.create(body={
        "metadata": {"name": policy},
        "spec": {"policyName": policy, "validationActions": ["Deny"], "namespaceSelector": {"matchLabels": {"gauntlet.test/vap": namespace}}},
    })  # fmt: skip

    def denied():
        try:
            configmaps.create(
                namespace=namespace, body={"metadata": {"generateName": "bad-"}, "data": {"forbidden": "x"}}
            )
        except ApiException as error:
            return error
        return None  # the policy is not active yet (its informer syncs within seconds)

    error = wait_for("the ValidatingAdmissionPolicy denying a ConfigMap", denied, timeout=60)
    assert error.status in (403, 422), error
    assert policy in error_message(error) and "data key 'forbidden' is not allowed here" in error_message(error)
    with pytest.raises(ApiException):  # and from then on
        configmaps.create(namespace=namespace, body={"metadata": {"name": "bad"}, "data": {"forbidden": "x"}})
    with pytest.raises(ApiException) as raised:
        configmaps.get(name="bad", namespace=namespace)
    assert raised.value.status == 404
    configmaps.create(namespace=namespace, body={"metadata": {"name": "good"}, "data": {"allowed": "x"}})
    bindings.delete(name=policy)
    policies.delete(name=policy)
    namespaces.delete(name=namespace)


def test_a_webhook_without_backend_fails_at_once_unreachable(control_plane):
    """The API server's own dial to a webhook Service (10.43.x.y) stays inside the namespace:
    the request fails at once with "network is unreachable", it neither leaves nor hangs."""
    from kubernetes.client.rest import ApiException

    namespaces = control_plane.resource("v1", "Namespace")
    configmaps = control_plane.resource("v1", "ConfigMap")
    webhooks = control_plane.resource("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
    namespace = unique("webhook")
    namespaces.create(body={"metadata": {"name": namespace, "labels": {"gauntlet.test/webhook": namespace}}})
    service = control_plane.resource("v1", "Service").create(namespace=namespace, body={
        "metadata": {"name": "no-backend"},
        "spec": {"selector": {"app": "none"}, "ports": [{"port": 443, "targetPort": 8443}]},
    }).to_dict()  # fmt: skip
    assert ipaddress.ip_address(service["spec"]["clusterIP"]) in ipaddress.ip_network(SERVICE_CIDR)
    webhooks.create(body={
        "metadata": {"name": namespace},
        "webhooks": [{
            "name": "deny.gauntlet.test",
            "clientConfig": {"service": {"namespace": namespace, "name": "no-backend", "path": "/validate", "port": 443}},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["configmaps"]}],
            "namespaceSelector": {"matchLabels": {"gauntlet.test/webhook": namespace}},
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"], "timeoutSeconds": 10,
        }],
    })  # fmt: skip

    def refused():
        began = time.monotonic()
        try:
            configmaps.create(namespace=namespace, body={"metadata": {"generateName": "x-"}})
        except ApiException as error:
            if f'service "{service["metadata"]["name"]}" not found' in error_message(error):
                return None  # the API server's Service informer has not seen the new Service yet
            return error, time.monotonic() - began
        return None  # the webhook configuration is not active yet

    error, seconds = wait_for("the webhook called", refused, timeout=60)
    message = error_message(error)
    assert "failed calling webhook" in message and "network is unreachable" in message, message
    assert service["spec"]["clusterIP"] in message
    assert seconds < 3, f"took {seconds:.1f} s: it must fail at once, not wait for the webhook's timeout"
    webhooks.delete(name=namespace)
    namespaces.delete(name=namespace)


def test_pod_security_admission_enforces_the_namespace_level(control_plane):
    from kubernetes.client.rest import ApiException

    namespaces = control_plane.resource("v1", "Namespace")
    pods = control_plane.resource("v1", "Pod")
    namespace = unique("restricted")
    namespaces.create(
        body={"metadata": {"name": namespace, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    )
    privileged = {"metadata": {"name": "privileged"},
                  "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1", "securityContext": {"privileged": True}}]}}  # fmt: skip
    with pytest.raises(ApiException) as raised:
        pods.create(namespace=namespace, body=privileged)
    assert raised.value.status == 403
    assert 'violates PodSecurity "restricted:latest"' in error_message(raised.value)
    restricted = {
        "metadata": {"name": "restricted"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": "registry.invalid/x:1",
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }  # fmt: skip
    assert pods.create(namespace=namespace, body=restricted).metadata.name == "restricted"
    namespaces.delete(name=namespace)


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
    from kubernetes.dynamic.exceptions import ResourceNotFoundError

    crds = control_plane.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    crds.server_side_apply(body=CRD, name=CRD["metadata"]["name"], field_manager=FIELD_MANAGER)
    wait_for("CRD Established", lambda: any(
        c["type"] == "Established" and c["status"] == "True"
        for c in (crds.get(name=CRD["metadata"]["name"]).to_dict().get("status") or {}).get("conditions") or []
    ), timeout=60)  # fmt: skip

    def widgets_api():
        try:
            return control_plane.resource("smoke.gauntlet.test/v1", "Widget")
        except ResourceNotFoundError:
            return None

    widgets = wait_for("Widget served by discovery", widgets_api, timeout=60)
    namespaces = control_plane.resource("v1", "Namespace")
    namespace = unique("ssa")
    namespaces.create(body={"metadata": {"name": namespace}})
    widget = {"apiVersion": "smoke.gauntlet.test/v1", "kind": "Widget", "metadata": {"name": "one", "namespace": namespace}, "spec": {"size": 3}}  # fmt: skip

    first = widgets.server_side_apply(
        body=widget, name="one", namespace=namespace, field_manager=FIELD_MANAGER
    ).to_dict()
    assert first["spec"] == {"size": 3, "max": 10}  # max defaulted from the schema
    assert [(m["manager"], m["operation"]) for m in first["metadata"]["managedFields"]] == [(FIELD_MANAGER, "Apply")]
    again = widgets.server_side_apply(
        body=widget, name="one", namespace=namespace, field_manager=FIELD_MANAGER
    ).to_dict()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]  # nothing changed: no write

    too_big = {**widget, "metadata": {"name": "two", "namespace": namespace}, "spec": {"size": 11}}
    with pytest.raises(ApiException) as raised:
        widgets.server_side_apply(body=too_big, name="two", namespace=namespace, field_manager=FIELD_MANAGER)
    assert raised.value.status == 422 and "size must not exceed max" in error_message(raised.value)
    zero = {**widget, "metadata": {"name": "three", "namespace": namespace}, "spec": {"size": 0}}
    with pytest.raises(ApiException) as raised:
        widgets.server_side_apply(body=zero, name="three", namespace=namespace, field_manager=FIELD_MANAGER)
    assert raised.value.status == 422 and "should be greater than or equal to 1" in error_message(raised.value)
    namespaces.delete(name=namespace)


# --- helm -------------------------------------------------------------------------------------


def test_helm_template_renders_the_k3s_traefik_chart(control_plane, tmp_path):
    """helm v4 renders the Traefik chart k3s v1.36.4 packages; the API server accepts its Deployment."""
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
    accepted = (
        control_plane.resource("apps/v1", "Deployment")
        .create(namespace="kube-system", body=deployments[0], dry_run="All")
        .to_dict()
    )
    assert (
        accepted["metadata"]["name"] == "traefik"
        and accepted["spec"]["template"]["spec"]["containers"][0]["image"] == image
    )
    assert accepted["metadata"]["uid"]  # defaulted and admitted by the server, not stored (dry run)


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


def test_kwok_renews_the_node_leases(control_plane):
    """kwok's heartbeat Stage updates a node's status only every 10 minutes
    (node-heartbeat-with-lease, delay 600000 ms) and counts on the node Lease for liveness;
    without leases the node lifecycle controller marks the nodes, and for good their pods,
    not Ready after the grace period, and every rollout wait longer than that fails."""
    import datetime

    leases = control_plane.resource("coordination.k8s.io/v1", "Lease")

    def renewed():
        try:
            items = leases.get(namespace="kube-node-lease").to_dict()["items"]
        except Exception:
            return None
        names = {lease["metadata"]["name"]: lease["spec"].get("renewTime") for lease in items}
        return all(names.get(node) for node in ("kwok-server-1", "kwok-agent-1")) and names

    names = wait_for("a Lease renewed by kwok for each simulated node", renewed, timeout=60)
    now = datetime.datetime.now(datetime.UTC)
    for node in ("kwok-server-1", "kwok-agent-1"):
        when = datetime.datetime.fromisoformat(names[node].replace("Z", "+00:00"))
        assert (now - when).total_seconds() < 60, f"{node}: lease last renewed at {when}"
