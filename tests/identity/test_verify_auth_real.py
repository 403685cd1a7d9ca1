"""`verify`'s auth row against the real chain (issue 14 item 4, third bullet).

The verify role itself (playbooks/verify.yml's role, tag verify_auth: roles/verify/tasks/auth.yml
and the filters of plugins/module_utils/verify_checks.py) runs as ansible-playbook inside the
identity tier's loopback-only network namespace, where everything it talks to runs too:

- the real Keycloak of the tier (https://keycloak.local on 127.0.0.1:443, configured by the
  keycloak role: the ``converged`` fixture), which issues the test user's token;
- the real Task API (python -m task_api serve, the tier's PostgreSQL, Keycloak's JWKS) on
  127.0.0.1:8000;
- the real Traefik 3.7.8 binary (scripts/install-traefik) on 127.0.0.2:443, the address
  tasks.local resolves to in the namespace, serving a certificate of the local CA.

Traefik reads its routes from its file provider. The file is GENERATED from the platform's own
Ingress and Service objects (gitops/task-api as kustomize builds it), not written by hand: each
Ingress rule becomes a router (host, path, entry points and TLS from its annotations), each
backend Service port a service pointing at the process standing in for the Service's endpoints.
Traefik fed from the control plane (tests/cluster/test_traefik_real.py) would need a second
control plane in this namespace; that tier already shows the kubernetesIngress provider routes
these same Ingresses. Keycloak is reached directly, not through Traefik (Keycloak here serves
HTTPS itself, behind no proxy).

Controls: the same verify run FAILs, naming the row and why, when the route is missing, when the
Task API trusts another issuer, and when the backend accepts any bearer token (an HTTP double
standing in for a Task API that does not check signatures).
"""

from __future__ import annotations

import http.client
import http.server
import importlib.util
import os
import re
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml
from keycloak_server import ISSUER, REALM, REPO, terminate
from needs import missing

pytestmark = pytest.mark.identity

# Where Traefik listens: tasks.local's address in the namespace (Keycloak holds 127.0.0.1:443).
TRAEFIK_ADDRESS = "127.0.0.2"
INSTALL_TRAEFIK = REPO / "scripts" / "install-traefik"
# The verify role as playbooks/verify.yml runs it, for the controller only (the auth check
# delegates every request to localhost and runs once).
VERIFY_PLAY = """---
- name: Verify the platform
  hosts: localhost
  gather_facts: false
  roles:
    - role: gauntlet.platform.verify
"""


def traefik_binary() -> Path:
    """The installed Traefik of the pin (scripts/install-traefik, as the Traefik tier uses it)."""
    path = (
        REPO
        / subprocess.run([str(INSTALL_TRAEFIK), "--path"], capture_output=True, text=True, check=True).stdout.strip()
    )
    if not (path.parent / ".complete").is_file():
        missing(f"the Traefik binary is not installed ({path.relative_to(REPO)}): run scripts/install-traefik")
    return path


def task_api_objects() -> list[dict]:
    """gitops/task-api as kustomize builds it (what Argo CD applies)."""
    spec = importlib.util.spec_from_file_location("gitops_render_for_identity", REPO / "tests/render/gitops_render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.kustomize(REPO / "gitops" / "task-api")


def _container_port(objects: list[dict], service: dict, port: dict) -> int:
    """The number a Service port's targetPort names, resolved in the workloads it selects."""
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    selector = service["spec"].get("selector") or {}
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        labels = obj["spec"]["template"]["metadata"].get("labels", {})
        if selector and all(labels.get(k) == v for k, v in selector.items()):
            for container in obj["spec"]["template"]["spec"]["containers"]:
                for each in container.get("ports", []):
                    if each.get("name") == target:
                        return each["containerPort"]
    raise AssertionError(f"Service {service['metadata']['name']}: no container port named {target!r}")


def _path_rule(path: dict) -> str:
    """A Kubernetes path as Traefik's kubernetesIngress provider matches it with
    strictPrefixMatching (the traefik role sets it, roles/traefik/tasks/objects.yml): Prefix
    matches whole path elements (networking.k8s.io/v1 HTTPIngressPath), Exact the path alone."""
    value, kind = path.get("path", "/"), path.get("pathType", "Prefix")
    if kind == "Exact":
        return f"Path(`{value}`)"
    if value == "/":
        return "PathPrefix(`/`)"
    value = value.rstrip("/")
    return f"(Path(`{value}`) || PathPrefix(`{value}/`))"


def file_provider_config(objects: list[dict], backends: dict[str, str], cert: Path, key: Path) -> dict:
    """Traefik's dynamic configuration (file provider) generated from the rendered Ingresses:
    one router per Ingress path, one service per backend Service port; ``backends`` maps a
    Service name to the address standing in for its endpoints (a Service not in it keeps no
    route). The default certificate is the local CA's, as the TLSStore default is on the platform."""
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    routers, lb = {}, {}
    for ingress in (o for o in objects if o["kind"] == "Ingress"):
        annotations = ingress["metadata"].get("annotations", {})
        entry_points = annotations.get("traefik.ingress.kubernetes.io/router.entrypoints", "web,websecure").split(",")
        tls = annotations.get("traefik.ingress.kubernetes.io/router.tls") == "true"
        for r, rule in enumerate(ingress["spec"]["rules"]):
            for p, path in enumerate(rule["http"]["paths"]):
                backend = path["backend"]["service"]
                if backend["name"] not in backends:
                    continue
                service = services[backend["name"]]
                port = next(
                    x for x in service["spec"]["ports"]
                    if x.get("name") == backend["port"].get("name") or x["port"] == backend["port"].get("number")
                )  # fmt: skip
                name = f"{backend['name']}-{port.get('name', port['port'])}"
                lb[name] = {"loadBalancer": {"servers": [
                    {"url": f"http://{backends[backend['name']]}:{_container_port(objects, service, port)}"}
                ]}}  # fmt: skip
                router = {
                    "rule": f"Host(`{rule['host']}`) && {_path_rule(path)}",
                    "entryPoints": entry_points,
                    "service": name,
                }
                if tls:
                    router["tls"] = {}
                routers[f"{ingress['metadata']['name']}-{r}-{p}"] = router
    config = {"tls": {"stores": {"default": {"defaultCertificate": {"certFile": str(cert), "keyFile": str(key)}}}}}
    if routers:  # Traefik's file provider refuses an empty routers map ("cannot be a standalone element")
        config["http"] = {"routers": routers, "services": lb}
    return config


class Traefik:
    """The Traefik binary in the namespace on TRAEFIK_ADDRESS:443 with one file-provider file."""

    def __init__(self, binary: Path, identity, workdir: Path, dynamic: dict):
        self.identity = identity
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "dynamic.yml").write_text(yaml.safe_dump(dynamic))
        self.log_path = workdir / "traefik.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            identity.netns.command(
                str(binary),
                f"--entryPoints.websecure.address={TRAEFIK_ADDRESS}:443",
                f"--providers.file.filename={workdir / 'dynamic.yml'}",
                "--providers.file.watch=false",
                # Nothing to ask outside the namespace (it could not leave it anyway).
                "--global.checkNewVersion=false",
                "--global.sendAnonymousUsage=false",
                "--log.level=INFO",
                "--accessLog=true",
            ),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}, cwd=workdir,
        )  # fmt: skip
        self.began = time.monotonic()
        deadline = self.began + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            if self.identity.netns.call(self._serves_certificate):
                self.ready_s = time.monotonic() - self.began
                return
            time.sleep(0.3)
        raise AssertionError(f"Traefik did not serve tasks.local's certificate within 60 s: {self.log()}")

    def _serves_certificate(self) -> bool:
        """A TLS handshake for tasks.local verifies against the local CA: the entry point is up
        and the file provider's default certificate is loaded (not Traefik's self-signed one)."""
        context = ssl.create_default_context(cafile=str(self.identity.ca))
        try:
            with (
                socket.create_connection((TRAEFIK_ADDRESS, 443), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="tasks.local"),
            ):
                return True
        except (OSError, ssl.SSLError):
            return False

    def get(self, path: str) -> int:
        """The status of GET https://tasks.local``path`` through Traefik (no token)."""

        def call():
            context = ssl.create_default_context(cafile=str(self.identity.ca))
            connection = http.client.HTTPSConnection(TRAEFIK_ADDRESS, 443, timeout=10, context=context)
            connection.sock = context.wrap_socket(
                socket.create_connection((TRAEFIK_ADDRESS, 443), timeout=10), server_hostname="tasks.local"
            )
            try:
                connection.request("GET", path, headers={"Host": "tasks.local"})
                return connection.getresponse().status
            finally:
                connection.close()

        return self.identity.netns.call(call)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self):
        terminate(self.proc, 15)
        self._log.close()


class AcceptsAnyBearer(http.server.BaseHTTPRequestHandler):
    """Test double: a "Task API" that checks no signature (200 for any Bearer header, 401
    without). Only the control of the forged-token row uses it."""

    def do_GET(self):
        status = 200 if self.headers.get("Authorization", "").startswith("Bearer ") else 401
        body = b"[]" if status == 200 else b'{"detail":"Not authenticated"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def tasks_local(identity):
    """tasks.local resolves to TRAEFIK_ADDRESS inside the namespace (the hosts file
    `ip netns exec` mounts, keycloak_server.hosts_file), for the commands run there."""
    hosts = Path("/etc/netns") / identity.netns.name / "hosts"
    before = hosts.read_text()
    hosts.write_text(before + f"{TRAEFIK_ADDRESS} tasks.local\n")
    yield
    hosts.write_text(before)


@pytest.fixture
def traefik(identity, tasks_local, tmp_path):
    """Start Traefik on the configuration generated for ``backends``; stopped after the test."""
    binary = traefik_binary()
    objects = task_api_objects()
    cert, key = identity.credentials / "ca" / "ingress.crt", identity.credentials / "ca" / "ingress.key"
    started = []

    def start(backends: dict[str, str], drop_ingress: bool = False) -> Traefik:
        chosen = [o for o in objects if not (drop_ingress and o["kind"] == "Ingress")]
        config = file_provider_config(chosen, backends, cert, key)
        proxy = Traefik(binary, identity, tmp_path / f"traefik-{len(started)}", config)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def run_verify(run_play, identity) -> tuple[subprocess.CompletedProcess, dict[str, tuple[str, str]]]:
    """The verify role, tag verify_auth; returns the run and its table rows {target: (result, detail)}."""
    # The sample inventory's values (the role's argument spec resolves every default), this
    # tier's credentials (local CA, test user's password), and no address taken from inventory
    # hosts (the sample's point at k3s and registry hosts this inventory does not have).
    variables = {}
    for path in sorted((REPO / "inventory" / "sample" / "group_vars" / "all").glob("*.yml")):
        variables.update(yaml.safe_load(path.read_text()) or {})
    variables.update(
        gauntlet_credentials_dir=str(identity.credentials), gauntlet_keycloak_realm=REALM,
        gauntlet_oidc_issuer=ISSUER, local_domains_direct={}, gauntlet_ingress_address=TRAEFIK_ADDRESS,
    )  # fmt: skip
    result = run_play(VERIFY_PLAY, variables, "--tags", "verify_auth")
    rows = {}
    # The table's lines (plugins/module_utils/verify_checks.py render_table), as the callback
    # prints them inside the debug task's quoted msg list.
    for line in result.stdout.splitlines():
        match = re.search(r"\| (keycloak|task-api) +\| (.+?) +\| (OK|FAIL|SKIP) +\| ?(.*)$", line)
        if match:
            rows[match.group(2)] = (match.group(3), match.group(4).rstrip(" \"',"))
    return result, rows


def text(result) -> str:
    return result.stdout[-6000:] + result.stderr[-2000:]


def test_verify_auth_passes_against_keycloak_traefik_and_the_task_api(identity, converged, task_api_factory,
                                                                      traefik, run_play):  # fmt: skip
    api = task_api_factory()
    proxy = traefik({"task-api": "127.0.0.1"})
    # The generated route publishes /tasks only (the Ingress's comment: /readyz stays inside).
    assert proxy.get("/tasks") == 401
    assert proxy.get("/readyz") == 404
    print(f"\nTraefik served tasks.local {proxy.ready_s:.1f} s after start")
    began = time.monotonic()
    result, rows = run_verify(run_play, identity)
    print(f"verify --tags verify_auth: {time.monotonic() - began:.1f} s")
    assert result.returncode == 0, text(result)
    assert rows.get("GET with the token", ("?",))[0] == "OK", (rows, text(result))
    assert rows.get("GET with a forged token", ("?",))[0] == "OK", (rows, text(result))
    assert rows.get("GET without a token", ("?",))[0] == "OK", (rows, text(result))
    assert [r for t, r in rows.items() if t.startswith("tester@")] == [rows[f"tester@{REALM} via task-api-cli"]]
    assert rows[f"tester@{REALM} via task-api-cli"][0] == "OK", rows
    # The requests went through Traefik to the real service: its access log has the three GETs
    # (token, forged, none) and the Task API logged them.
    access = [line for line in proxy.log().splitlines() if '"GET /tasks?limit=1 HTTP' in line]
    assert len(access) == 3, proxy.log()
    assert "Traceback" not in api.log()


def _failed(result, rows, target: str, detail: str):
    assert result.returncode != 0, text(result)
    assert rows.get(target, ("?",))[0] == "FAIL", (rows, text(result))
    assert re.search(detail, rows[target][1]), (rows[target], text(result))
    assert "check(s) failed" in result.stdout and target in result.stdout, text(result)


def test_verify_auth_fails_when_the_backend_accepts_a_forged_token(identity, converged, traefik, run_play):
    server = http.server.ThreadingHTTPServer
    holder = {}

    def serve():
        httpd = server(("127.0.0.1", 8000), AcceptsAnyBearer)
        holder["httpd"] = httpd
        return httpd

    httpd = identity.netns.call(serve)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        traefik({"task-api": "127.0.0.1"})
        result, rows = run_verify(run_play, identity)
    finally:
        httpd.shutdown()
        httpd.server_close()
    _failed(result, rows, "GET with a forged token", r"HTTP 200 OK, expected 401: a token signed by an unknown key")
    assert rows["GET with the token"][0] == "OK", rows


def test_verify_auth_fails_when_the_task_api_trusts_another_issuer(identity, converged, task_api_factory,
                                                                   traefik, run_play):  # fmt: skip
    task_api_factory(oidc_issuer=f"{ISSUER}-elsewhere")
    traefik({"task-api": "127.0.0.1"})
    result, rows = run_verify(run_play, identity)
    _failed(result, rows, "GET with the token", r"HTTP 401 unauthorized, expected 200: a valid Keycloak token")


def test_verify_auth_fails_when_the_route_is_missing(identity, converged, task_api_factory, traefik, run_play):
    task_api_factory()
    traefik({"task-api": "127.0.0.1"}, drop_ingress=True)
    result, rows = run_verify(run_play, identity)
    _failed(result, rows, "GET with the token", r"HTTP 404 not found, expected 200")
    # Without a route nothing answers 401 either: the anonymous and forged rows fail as well.
    assert rows["GET without a token"][0] == "FAIL", rows
