"""Linkerd on a real cluster, after `playbooks/platform.yml --tags linkerd` (role linkerd).

Needs KUBECONFIG. GAUNTLET_CREDENTIALS_DIR (the inventory's credentials folder) adds the
checks against the generated certificates and the dashboard password; the dashboard
check also needs the controller to resolve the dashboard domain (GAUNTLET_LINKERD_HOST,
default linkerd.local) and trusts the local CA from that folder.
"""

import base64
import os
import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="needs a cluster: set KUBECONFIG to its kubeconfig"),
]

CONTROL_PLANE = ("linkerd-identity", "linkerd-destination", "linkerd-proxy-injector")
VIZ = ("metrics-api", "tap", "tap-injector", "web")
INJECTED = ("keycloak", "gitea", "drone", "argocd")


@pytest.fixture(scope="module")
def k8s():
    from kubernetes import client, config

    config.load_kube_config(os.environ["KUBECONFIG"])
    return client


@pytest.fixture(scope="module")
def credentials():
    folder = os.environ.get("GAUNTLET_CREDENTIALS_DIR")
    if not folder:
        pytest.skip("set GAUNTLET_CREDENTIALS_DIR to the inventory's credentials folder")
    return Path(folder)


def available(deployment) -> bool:
    return any(c.type == "Available" and c.status == "True" for c in deployment.status.conditions or [])


@pytest.mark.parametrize(
    ("namespace", "name"), [("linkerd", n) for n in CONTROL_PLANE] + [("linkerd-viz", n) for n in VIZ]
)
def test_deployments_are_available(k8s, namespace, name):
    assert available(k8s.AppsV1Api().read_namespaced_deployment(name, namespace))


def test_helmcharts_installed_from_chart_content(k8s):
    api = k8s.CustomObjectsApi()
    for name in ("linkerd-crds", "linkerd-control-plane", "linkerd-viz"):
        chart = api.get_namespaced_custom_object("helm.cattle.io", "v1", "kube-system", "helmcharts", name)
        assert chart["spec"]["chartContent"]
        job = k8s.BatchV1Api().read_namespaced_job(chart["status"]["jobName"], "kube-system")
        assert job.status.succeeded, f"helm job of {name} did not succeed"


def test_control_plane_pods_run_the_proxy_as_a_native_sidecar(k8s):
    pods = k8s.CoreV1Api().list_namespaced_pod("linkerd", label_selector="linkerd.io/control-plane-ns=linkerd")
    assert pods.items
    for pod in pods.items:
        sidecars = [c for c in pod.spec.init_containers or [] if c.name == "linkerd-proxy"]
        assert sidecars and sidecars[0].restart_policy == "Always", pod.metadata.name


def test_identity_uses_the_generated_issuer_and_anchor(k8s, credentials):
    core = k8s.CoreV1Api()
    issuer = core.read_namespaced_secret("linkerd-identity-issuer", "linkerd")
    assert base64.b64decode(issuer.data["crt.pem"]).decode().strip() == (
        (credentials / "linkerd/issuer.crt").read_text().strip()
    )
    roots = core.read_namespaced_config_map("linkerd-identity-trust-roots", "linkerd")
    assert roots.data["ca-bundle.crt"].strip() == (credentials / "linkerd/trust-anchor.crt").read_text().strip()


def test_pods_of_injected_namespaces_are_meshed(k8s):
    core = k8s.CoreV1Api()
    existing = {ns.metadata.name: ns for ns in core.list_namespace().items}
    checked = 0
    for name in INJECTED:
        namespace = existing.get(name)
        if namespace is None or (namespace.metadata.annotations or {}).get("linkerd.io/inject") != "enabled":
            continue
        for pod in core.list_namespaced_pod(name, field_selector="status.phase=Running").items:
            if (pod.metadata.annotations or {}).get("linkerd.io/inject") == "disabled":
                continue
            containers = [c.name for c in (pod.spec.init_containers or []) + pod.spec.containers]
            assert "linkerd-proxy" in containers, (
                f"{name}/{pod.metadata.name} has no proxy: created before the injector? restart it (docs/linkerd.md)"
            )
            checked += 1
    if not checked:
        pytest.skip("no running pod in an injected namespace yet")


def test_dashboard_asks_for_the_password(credentials):
    host = os.environ.get("GAUNTLET_LINKERD_HOST", "linkerd.local")
    try:
        socket.gethostbyname(host)
    except OSError:
        pytest.skip(f"the controller does not resolve {host} (local_domains_manage_controller)")
    context = ssl.create_default_context(cafile=str(credentials / "ca/ca.crt"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"https://{host}/", context=context, timeout=10)
    assert refused.value.code == 401
    password = (credentials / "linkerd/dashboard-password").read_text().strip()
    token = base64.b64encode(f"admin:{password}".encode()).decode()
    request = urllib.request.Request(f"https://{host}/", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def test_gateway_api_crds_serve_what_linkerd_reads_and_have_one_owner(k8s):
    """HTTPRoute and GRPCRoute serve v1; the linkerd-crds release installs them only if it owns them."""
    import yaml

    ext = k8s.ApiextensionsV1Api()
    chart = k8s.CustomObjectsApi().get_namespaced_custom_object(
        "helm.cattle.io", "v1", "kube-system", "helmcharts", "linkerd-crds"
    )
    values = yaml.safe_load(chart["spec"].get("valuesContent") or "{}")
    for name in ("httproutes.gateway.networking.k8s.io", "grpcroutes.gateway.networking.k8s.io"):
        crd = ext.read_custom_resource_definition(name)
        assert "v1" in [v.name for v in crd.spec.versions if v.served], f"{name} does not serve v1"
        release = (crd.metadata.annotations or {}).get("meta.helm.sh/release-name")
        assert values.get("enableHttpRoutes") is (release == "linkerd-crds"), (name, release, values)
