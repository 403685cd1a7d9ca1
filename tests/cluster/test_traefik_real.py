"""The real Traefik, fed what the platform renders, on the control-plane tier (issue 14 item 2).

Traefik 3.7.8 (the one k3s v1.36.4 runs; scripts/install-traefik, tests/traefik/requirements.txt)
runs inside the control plane's loopback-only network namespace with the arguments that the chart
k3s packages (v40.1.0) renders from the platform's HelmChartConfig values: `helm template` of the
upstream chart copy with the traefik role's rendered valuesContent, the Deployment's container
args taken as they are. Its own Kubernetes providers (kubernetesCRD, kubernetesIngress) read the
real kube-apiserver with the token of the chart's ServiceAccount, bound by the chart's ClusterRole:
so the objects Traefik routes by are the rendered ones (the traefik, monitoring and keycloak roles
in render mode, gitops/task-api as kustomize builds it), applied as they are, after the chart's
Traefik CRDs. Only the backends are stand-ins: each rendered Service loses its selector and gets
an EndpointSlice pointing at an HTTP double (tests/cluster/http_double.py) on an address added to
the namespace's `lo` (the API server refuses loopback endpoint addresses:
k8s.io/kubernetes v1.36.3 pkg/apis/core/validation ValidateEndpointIP, called by
pkg/apis/discovery/validation for IPv4 EndpointSlices).

Not covered: k3s's own HelmChart valuesContent (no copy of the v1.36.4 manifest at hand,
../shared/upstream/VERSIONS.md §8) and anything pod-level (the chart's Deployment is not run).
"""

from __future__ import annotations

import base64
import http.client
import importlib.util
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
import upstream
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.platform_objects import namespace_object
from controlplane import API_PORT, REPO
from needs import missing

pytestmark = pytest.mark.controlplane

CHART = "traefik-helm-chart/v40.1.0/traefik"
INSTALL = REPO / "scripts" / "install-traefik"
# Addresses of the backend doubles, on the namespace's lo (10.42.0.0/16 is the cluster CIDR,
# where pod addresses live; /32 each, removed again after the module).
BACKEND_NET = "10.42.250."
# The chart's entry point addresses (values.yaml ports.web.port 8000, ports.websecure.port 8443),
# as the rendered args bind them (":8000/tcp"); reached on 127.0.0.1 inside the namespace.
WEB, WEBSECURE = 8000, 8443
ROLES = """---
- name: Render the roles whose objects Traefik serves
  hosts: localhost
  become: false
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - gauntlet.platform.traefik
    - gauntlet.platform.monitoring
    - gauntlet.platform.keycloak
"""


def _load(name: str, path: Path):
    """A helper module of another test folder (importlib mode: conftest modules do not import by name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def traefik_binary() -> Path:
    """The installed Traefik for the current pin; skips (fails in CI) when not installed."""
    path = REPO / subprocess.run([str(INSTALL), "--path"], capture_output=True, text=True, check=True).stdout.strip()
    if not (path.parent / ".complete").is_file():
        missing(
            f"the Traefik binary is not installed ({path.relative_to(REPO)}): run scripts/install-traefik (scripts/setup does)"
        )
    return path


# --- what the platform renders ---------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The render of the traefik, monitoring and keycloak roles (inventory/sample, upstream bundle),
    and gitops/task-api as kustomize builds it: {"objects": [...], "credentials": Path}."""
    upstream.require()
    render = _load("render_conftest_for_traefik", REPO / "tests/render/conftest.py")
    gitops = _load("gitops_render_for_traefik", REPO / "tests/render/gitops_render.py")
    work = tmp_path_factory.mktemp("traefik-render")
    bundle, _unused = render.make_upstream_bundle(work)
    (work / "play.yml").write_text(ROLES)
    out, credentials = work / "out", work / "credentials"
    extra = {
        "gauntlet_render_dir": str(out),
        "gauntlet_credentials_dir": str(credentials),
        "gauntlet_bundle_dir": str(bundle),
    }
    result = render.run_playbook(work / "play.yml", "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    objects = [yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))]
    objects += gitops.kustomize(REPO / "gitops" / "task-api")
    return {"objects": objects, "credentials": credentials}


def of_kind(objects, kind):
    return [o for o in objects if o["kind"] == kind]


def one(objects, kind, name, namespace=None):
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    found = [o for o in found if namespace is None or o["metadata"].get("namespace") == namespace]
    assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def chart_objects(control_plane, values_content: str, tmp_path: Path) -> list[dict]:
    """`helm template` of k3s's Traefik chart with the platform's values, as helm-controller installs it."""
    chart = upstream.path(CHART)
    (tmp_path / "values.yaml").write_text(values_content)
    env = dict(os.environ, **{f"HELM_{k}_HOME": str(tmp_path / k.lower()) for k in ("CACHE", "CONFIG", "DATA")})
    result = control_plane.run(
        str(control_plane.bin / "helm"), "template", "traefik", str(chart), "--namespace", "kube-system",
        "--kube-version", "v1.36.3", "-f", str(tmp_path / "values.yaml"), env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [o for o in yaml.safe_load_all(result.stdout) if o]


# --- applying ---------------------------------------------------------------------------------


def apply(control_plane, obj: dict, created: list | None = None) -> None:
    """Create ``obj`` as it is (the API server's admission and validation answer); remember it
    in ``created`` for the teardown."""
    resource = control_plane.resource(obj["apiVersion"], obj["kind"])
    namespace = obj["metadata"].get("namespace") if resource.resource.namespaced else None
    kwargs = {"namespace": namespace} if namespace else {}
    resource.create(body=obj, **kwargs)
    if created is not None:
        created.append((resource, obj["metadata"]["name"], kwargs))


def delete_created(created: list) -> None:
    """Delete what the module created, newest first, except Namespaces: the control plane is
    the session's, and the next modules (tests/cluster/test_trust_admission.py) create the same
    admission policy and namespaces themselves (a namespace that is still terminating would
    refuse their pods). The Namespaces left behind are the rendered ones, or ones like them."""
    for resource, name, kwargs in reversed(created):
        if resource.resource.kind == "Namespace":
            continue
        try:
            resource.delete(name=name, **kwargs)
        except Exception as error:  # a leftover must not hide the tests' own result
            if getattr(error, "status", None) != 404:
                print(f"teardown: could not delete {resource.resource.kind} {name}: {error}")


def wait_for(what: str, check, timeout: float, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log and log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tail}")
        time.sleep(0.5)


def backend_double(obj: dict, address: str, port: int) -> tuple[dict, dict]:
    """A rendered Service without its selector, and an EndpointSlice of every port of it at ``address``:``port``."""
    service = json.loads(json.dumps(obj))
    service["spec"].pop("selector", None)
    service["spec"].pop("sessionAffinity", None)
    meta = service["metadata"]
    endpoint_slice = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{meta['name']}-double",
            "namespace": meta["namespace"],
            "labels": {"kubernetes.io/service-name": meta["name"]},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [address], "conditions": {"ready": True, "serving": True, "terminating": False}}],
        "ports": [{"name": p.get("name", ""), "port": port, "protocol": "TCP"} for p in service["spec"]["ports"]],
    }
    return service, endpoint_slice


# The backends: (namespace, rendered Service) -> the double standing in for what it fronts.
BACKENDS = {
    ("keycloak", "keycloak-service"): "keycloak",
    ("monitoring", "prometheus-k8s"): "prometheus",
    ("monitoring", "alertmanager-main"): "alertmanager",
    ("monitoring", "grafana"): "grafana",
    ("task-api", "task-api"): "task-api",
}
DOUBLE_PORT = 18080


@pytest.fixture(scope="module")
def binary():
    """The Traefik binary, looked for before anything is rendered or started."""
    return traefik_binary()


@pytest.fixture(scope="module")
def traefik(binary, control_plane, rendered, tmp_path_factory):
    """Traefik running on the rendered objects; yields what the tests need to reach it."""
    work = tmp_path_factory.mktemp("traefik")
    objects = rendered["objects"]
    netns = control_plane.netns
    processes: list[subprocess.Popen] = []
    addresses: list[str] = []
    created: list = []
    try:
        # 1. The chart's Traefik CRDs (k3s's traefik-crd release installs them from the chart's crds/).
        crds = control_plane.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        for path in upstream.glob(f"{CHART}/crds/traefik.io_*.yaml"):
            crd = yaml.safe_load(path.read_text())
            crds.server_side_apply(body=crd, name=crd["metadata"]["name"], field_manager="gauntlet-tests")

        def established():
            for crd in crds.get().to_dict()["items"]:
                if crd["spec"]["group"] == "traefik.io" and not any(
                    c["type"] == "Established" and c["status"] == "True"
                    for c in (crd.get("status") or {}).get("conditions") or []
                ):
                    return False
            return True

        wait_for("Traefik CRDs established", established, 60)

        # 2. The chart rendered with the platform's values: its RBAC, IngressClass, TLSStore and
        # TLSOption are applied; its Deployment gives the Traefik arguments.
        config = one(objects, "HelmChartConfig", "traefik", "kube-system")
        chart = chart_objects(control_plane, config["spec"]["valuesContent"], work)
        deployment = one(chart, "Deployment", "traefik")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        for obj in chart:
            if obj["kind"] in {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "IngressClass", "Service"}:
                apply(control_plane, obj, created)

        # 3. The platform's objects Traefik reads or that guard them: Namespaces, the default
        # certificate's Secret, the Ingress host policy, the basic-auth Secret and Middleware,
        # every Ingress. Namespaces first, the policy before the Ingresses it admits.
        kinds = ["Namespace", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
        for kind in kinds:
            for obj in of_kind(objects, kind):
                apply(control_plane, obj, created)
        if not [o for o in of_kind(objects, "Namespace") if o["metadata"]["name"] == "task-api"]:
            # The Task API's namespace as the cnpg role renders it (not rendered here): meshed, restricted.
            apply(control_plane, namespace_object("task-api", pod_security="restricted", inject=True), created)
        # The binding's policy is enforced only once the API server has loaded it; the host
        # policy's own tests (tests/cluster/test_trust_admission.py) show it refuses.
        for obj in objects:
            if obj["kind"] == "Secret" and obj.get("type") in ("kubernetes.io/tls", "kubernetes.io/basic-auth"):
                apply(control_plane, obj, created)
        for obj in [*of_kind(chart, "TLSStore"), *of_kind(chart, "TLSOption")]:
            apply(control_plane, obj, created)
        for obj in of_kind(objects, "Middleware"):
            apply(control_plane, obj, created)
        ingresses = of_kind(objects, "Ingress")
        for obj in ingresses:
            obj.setdefault("metadata", {}).setdefault("namespace", "task-api")
            apply(control_plane, obj, created)

        # 4. Backends: the rendered Services, selectorless, with EndpointSlices to the doubles.
        specs = []
        for index, ((namespace, name), double) in enumerate(sorted(BACKENDS.items()), start=1):
            address = f"{BACKEND_NET}{index}"
            subprocess.run(["ip", "-n", netns.name, "addr", "add", f"{address}/32", "dev", "lo"], check=True)
            addresses.append(address)
            service, endpoint_slice = backend_double(one(objects, "Service", name, namespace), address, DOUBLE_PORT)
            apply(control_plane, service, created)
            apply(control_plane, endpoint_slice, created)
            specs.append(f"{double}={address}:{DOUBLE_PORT}")
        doubles = subprocess.Popen(
            netns.command(sys.executable, str(Path(__file__).with_name("http_double.py")), *specs),
            stdout=subprocess.PIPE, stderr=(work / "doubles.log").open("wb"), text=True,
        )  # fmt: skip
        processes.append(doubles)
        assert doubles.stdout.readline().strip() == "ready", (work / "doubles.log").read_text()

        # 5. Traefik's credentials: a token of the chart's ServiceAccount (TokenRequest API), in a
        # kubeconfig, which Traefik's providers read from $KUBECONFIG (traefik v3.7.8
        # pkg/provider/kubernetes/crd/kubernetes.go and .../ingress/kubernetes.go newK8sClient).
        account = one(chart, "ServiceAccount", "traefik")["metadata"]

        def token_request():
            from kubernetes import client

            core = client.CoreV1Api(control_plane.api_client())
            body = {"spec": {"expirationSeconds": 3600}}
            return core.create_namespaced_service_account_token(account["name"], account["namespace"], body)

        token = netns.call(token_request).status.token
        kubeconfig = work / "traefik.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "traefik",
            "clusters": [
                {
                    "name": "c",
                    "cluster": {
                        "server": f"https://127.0.0.1:{API_PORT}",
                        "certificate-authority": str(control_plane.pki["server-ca.crt"]),
                    },
                }
            ],
            "users": [{"name": "traefik", "user": {"token": token}}],
            "contexts": [{"name": "traefik", "context": {"cluster": "c", "user": "traefik"}}],
        }))  # fmt: skip
        kubeconfig.chmod(0o600)

        # 6. Traefik itself, with the chart's arguments as rendered.
        log = work / "traefik.log"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(kubeconfig), "HOME": str(work)}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
        env.update(POD_NAME="traefik-test", POD_NAMESPACE="kube-system")
        began = time.monotonic()
        proc = subprocess.Popen(
            netns.command(str(binary), *container["args"]), stdout=log.open("wb"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env, cwd=work,
        )  # fmt: skip
        processes.append(proc)
        ca = rendered["credentials"] / "ca" / "ca.crt"
        state = {"binary": binary, "args": container["args"], "log": log, "ca": ca, "netns": netns, "proc": proc}

        def routed():
            if proc.poll() is not None:
                raise AssertionError(
                    f"traefik exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}"
                )
            # Every Ingress host answers from its double: the providers have read everything.
            try:
                return all(
                    request(state, "GET", host, probe, verify=True)[0] == 200
                    for host, probe in (("tasks.local", "/tasks"), ("keycloak.local", "/realms/gauntlet"),
                                        ("grafana.local", "/"))
                )  # fmt: skip
            except OSError:
                return False

        wait_for("Traefik routing the rendered Ingresses", routed, 90, log)
        state["ready_s"] = time.monotonic() - began
        state["ingresses"] = ingresses
        yield state
    finally:
        for proc in reversed(processes):
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for address in addresses:
            subprocess.run(["ip", "-n", netns.name, "addr", "del", f"{address}/32", "dev", "lo"], check=False)
        delete_created(created)


# --- talking to Traefik -----------------------------------------------------------------------


def tls_context(state, verify: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(state["ca"]))
    if not verify:
        context.check_hostname = False
    return context


def request(state, method, host, path, *, verify=True, https=True, headers=None, body=None):
    """``method`` https://host``path`` (or http://) through Traefik on 127.0.0.1 inside the
    namespace, SNI and Host set to ``host``; returns (status, headers, body)."""

    def call():
        if https:
            raw = socket.create_connection(("127.0.0.1", WEBSECURE), timeout=10)
            sock = tls_context(state, verify).wrap_socket(raw, server_hostname=host)
            connection = http.client.HTTPConnection(host, WEBSECURE, timeout=10)
            connection.sock = sock
        else:
            connection = http.client.HTTPConnection("127.0.0.1", WEB, timeout=10)
        try:
            connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    return state["netns"].call(call)


def reached(response):
    status, _unused, body = response
    assert status == 200, response
    return json.loads(body)


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def hosts_of(ingresses) -> list[str]:
    return sorted({rule["host"] for ingress in ingresses for rule in ingress["spec"]["rules"]})


# --- the tests --------------------------------------------------------------------------------


def test_traefik_is_the_pinned_release(traefik):
    result = subprocess.run([str(traefik["binary"]), "version"], capture_output=True, text=True, check=True)
    assert "Version:      3.7.8" in result.stdout, result.stdout
    status = Path(f"/proc/{traefik['proc'].pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
    print(f"Traefik routed every rendered Ingress {traefik['ready_s']:.1f} s after start; RSS {rss:.0f} MiB")


def test_https_with_the_local_ca_verifies_for_every_platform_host(traefik, rendered):
    hosts = hosts_of(traefik["ingresses"])
    assert {"tasks.local", "keycloak.local", "keycloak-admin.local", "grafana.local", "prometheus.local"} <= set(hosts)
    # The leaf of the rendered Secret (the local CA's certificate for the platform's names).
    secret = one(rendered["objects"], "Secret", "gauntlet-default-tls", "kube-system")
    leaf_pem = base64.b64decode(secret["data"]["tls.crt"]).decode()
    leaf = ssl.PEM_cert_to_DER_cert(leaf_pem[: leaf_pem.index("-----END CERTIFICATE-----") + 25])
    for host in hosts:

        def handshake(host=host):
            raw = socket.create_connection(("127.0.0.1", WEBSECURE), timeout=10)
            with tls_context(traefik).wrap_socket(raw, server_hostname=host) as sock:  # verifies chain and name
                return sock.getpeercert(binary_form=True), sock.version()

        der, version = traefik["netns"].call(handshake)
        assert der == leaf, f"{host}: Traefik served another certificate than the TLSStore's default"
        assert version in ("TLSv1.2", "TLSv1.3")


def test_tls_options_refuse_what_the_platform_does_not_allow(traefik):
    """TLSOption default (rendered: minVersion VersionTLS12, AEAD suites only): a TLS 1.2
    client offering only a CBC suite gets no handshake."""

    def handshake():
        context = tls_context(traefik)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA")
        raw = socket.create_connection(("127.0.0.1", WEBSECURE), timeout=10)
        try:
            with context.wrap_socket(raw, server_hostname="grafana.local"):
                return "accepted"
        except ssl.SSLError as error:
            return f"refused: {error.reason}"

    assert traefik["netns"].call(handshake).startswith("refused"), "a CBC-only TLS 1.2 client was accepted"

    def aead():
        context = tls_context(traefik)
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256")
        raw = socket.create_connection(("127.0.0.1", WEBSECURE), timeout=10)
        with context.wrap_socket(raw, server_hostname="grafana.local") as sock:
            return sock.version()

    assert traefik["netns"].call(aead) == "TLSv1.2"


def test_plain_http_is_redirected_to_https_as_rendered(traefik):
    # ports.web.http.redirections.entryPoint {to: websecure, scheme: https, permanent: true}; the
    # chart turns `to` into websecure's exposedPort 443, which Traefik leaves out of the URL
    # (traefik v3.7.8 pkg/middlewares/redirect/redirect_scheme.go); permanent: 301 for GET,
    # 308 for other methods (redirect.go moveHandler).
    assert "--entryPoints.web.http.redirections.entryPoint.to=:443" in traefik["args"]
    status, headers, _unused = request(traefik, "GET", "keycloak.local", "/realms/gauntlet/account?x=1", https=False)
    assert (status, headers.get("Location")) == (301, "https://keycloak.local/realms/gauntlet/account?x=1")
    status, headers, _unused = request(traefik, "POST", "tasks.local", "/tasks", https=False, body=b"{}")
    assert (status, headers.get("Location")) == (308, "https://tasks.local/tasks")
    # Even a host nobody serves is redirected, not answered in plain text.
    status, headers, _unused = request(traefik, "GET", "unknown.local", "/", https=False)
    assert (status, headers.get("Location")) == (301, "https://unknown.local/")


@pytest.mark.parametrize("host,double", [("prometheus.local", "prometheus"), ("alertmanager.local", "alertmanager")])
def test_basic_auth_guards_prometheus_and_alertmanager(traefik, rendered, host, double):
    secret = one(rendered["objects"], "Secret", "basic-auth", "monitoring")
    user = base64.b64decode(secret["data"]["username"]).decode()
    password = (rendered["credentials"] / "monitoring" / "basic-auth-password").read_text().strip()
    assert base64.b64decode(secret["data"]["password"]).decode() == password

    status, headers, body = request(traefik, "GET", host, "/api/v1/status/config")
    assert status == 401, (status, body)
    assert headers.get("Www-Authenticate") == 'Basic realm="Gauntlet monitoring"'
    wrongs = {"wrong password": basic(user, password + "x"), "wrong user": basic(user + "x", password),
              "no password": basic(user, ""), "a bearer token": {"Authorization": "Bearer " + password}}  # fmt: skip
    answers = {what: request(traefik, "GET", host, "/api/v1/status/config", headers=h) for what, h in wrongs.items()}
    assert {what: a[0] for what, a in answers.items()} == dict.fromkeys(wrongs, 401), (user, answers)
    answer = reached(request(traefik, "GET", host, "/api/v1/status/config", headers=basic(user, password)))
    assert answer["double"] == double and answer["path"] == "/api/v1/status/config"
    assert answer["authorization"] is None  # removeHeader: true, the password goes no further
    assert answer["x_forwarded_proto"] == "https"


def test_grafana_needs_no_basic_auth(traefik):
    assert reached(request(traefik, "GET", "grafana.local", "/login"))["double"] == "grafana"


def test_an_unknown_host_gets_404(traefik):
    status, _unused, _unused = request(traefik, "GET", "unknown.local", "/", verify=False)
    assert status == 404
    # A known SNI with an unknown Host header is not routed either.
    assert request(traefik, "GET", "unknown.local", "/tasks", verify=False)[0] == 404


def test_keycloak_routes_reach_keycloak_and_only_the_published_paths(traefik):
    answer = reached(request(traefik, "GET", "keycloak.local", "/realms/gauntlet/.well-known/openid-configuration"))
    assert answer["double"] == "keycloak" and answer["host"] == "keycloak.local"
    assert reached(request(traefik, "GET", "keycloak.local", "/resources/x.css"))["double"] == "keycloak"
    assert reached(request(traefik, "GET", "keycloak-admin.local", "/admin/master/console/"))["double"] == "keycloak"
    assert reached(request(traefik, "GET", "keycloak-admin.local", "/realms/master/protocol/openid-connect/token"))
    # Not published on the public host: the admin console, the master realm, metrics and health.
    for path in ("/admin/master/console/", "/realms/master/.well-known/openid-configuration", "/metrics", "/health"):
        assert request(traefik, "GET", "keycloak.local", path)[0] == 404, path


def test_task_api_route_reaches_the_task_api_and_nothing_else(traefik):
    answer = reached(
        request(traefik, "POST", "tasks.local", "/tasks", body=b"{}", headers={"Authorization": "Bearer t"})
    )
    assert answer["double"] == "task-api" and answer["method"] == "POST"
    assert answer["authorization"] == "Bearer t"  # no middleware on this route: the token reaches the API
    for path in ("/metrics", "/readyz", "/openapi.json", "/"):
        assert request(traefik, "GET", "tasks.local", path)[0] == 404, path


def test_prefix_paths_match_whole_path_elements(traefik):
    """pathType Prefix matches element-wise (Kubernetes networking/v1 HTTPIngressPath: "/foo/bar"
    matches "/foo/bar/baz" but not "/foo/barbaz"), which platform_ingress relies on to publish
    only the platform realm. Traefik matches character-wise unless
    providers.kubernetesIngress.strictPrefixMatching (chart v40.1.0 values.yaml; traefik v3.7.8
    pkg/provider/kubernetes/ingress/kubernetes.go buildRule)."""
    assert reached(request(traefik, "GET", "keycloak.local", "/realms/gauntlet"))["double"] == "keycloak"
    assert reached(request(traefik, "GET", "keycloak.local", "/realms/gauntlet/account"))["double"] == "keycloak"
    beyond = {
        ("keycloak.local", "/realms/gauntlet-admins/.well-known/openid-configuration"),
        ("keycloak.local", "/realms/gauntletx"),
        ("keycloak-admin.local", "/administrator"),
        ("tasks.local", "/tasks-export"),
    }
    answers = {(host, path): request(traefik, "GET", host, path)[0] for host, path in beyond}
    assert answers == dict.fromkeys(beyond, 404)


def test_internal_entry_points_serve_ping_and_metrics_but_not_the_api(traefik):
    """The chart's `traefik` entry point (:8080, not in the Service) answers /ping; with
    api.dashboard but no api.insecure and no dashboard IngressRoute (chart values.yaml
    ingressRoute.dashboard.enabled: false) the API is not served; `metrics` (:9100) serves
    Prometheus metrics (metrics.prometheus), the default certificate's expiry among them."""

    def get(port, path):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()

    assert "--ping=true" in traefik["args"] and "--api.dashboard=true" in traefik["args"]
    assert traefik["netns"].call(get, 8080, "/ping") == (200, "OK")
    assert traefik["netns"].call(get, 8080, "/api/rawdata")[0] == 404
    assert traefik["netns"].call(get, 8080, "/dashboard/")[0] == 404
    status, metrics = traefik["netns"].call(get, 9100, "/metrics")
    assert status == 200
    # The served certificate's expiry, the series the platform's alerts can watch.
    certs = [line for line in metrics.splitlines() if line.startswith("traefik_tls_certs_not_after{")]
    assert any("keycloak.local" in line and "tasks.local" in line for line in certs), certs
