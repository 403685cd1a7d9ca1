"""The real Traefik of the identity tier, in front of Keycloak and the Task API as on the platform.

One Traefik 3.7.8 binary (scripts/install-traefik, the release k3s v1.36.4 runs) per session, in
the tier's loopback-only network namespace on 127.0.0.1:443, the address keycloak.local,
keycloak-admin.local and tasks.local resolve to there. It serves the local CA's certificate for
those names as its default certificate (the platform's TLSStore default).

Its routes come from Traefik's file provider (a watched directory), and every file in it is
GENERATED from the platform's own Ingress, Service and Deployment objects: the keycloak role's
render (roles/keycloak/templates/keycloak.yaml.j2: Ingresses `keycloak` and `keycloak-admin`,
Service keycloak-service) and gitops/task-api as kustomize builds it. Each Ingress path becomes a
router (host, path, entry points and TLS from its annotations), each backend Service port a
service pointing at the process standing in for the Service's endpoints. Traefik fed from a
control plane (tests/cluster/test_traefik_real.py) would need a second control plane in this
namespace; that tier shows the kubernetesIngress provider routes these same Ingresses the same
way (strictPrefixMatching included).
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import subprocess
import time
from pathlib import Path

import yaml
from keycloak_server import REPO, terminate
from needs import missing

INSTALL_TRAEFIK = REPO / "scripts" / "install-traefik"
# Where Traefik listens in the namespace: the address the platform's host names resolve to there.
ADDRESS = "127.0.0.1"


def traefik_binary() -> Path:
    """The installed Traefik of the pin (scripts/install-traefik, as the Traefik tier uses it)."""
    path = (
        REPO
        / subprocess.run([str(INSTALL_TRAEFIK), "--path"], capture_output=True, text=True, check=True).stdout.strip()
    )
    if not (path.parent / ".complete").is_file():
        missing(f"the Traefik binary is not installed ({path.relative_to(REPO)}): run scripts/install-traefik")
    return path


def container_port(objects: list[dict], service: dict, port: dict) -> int:
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


def path_rule(path: dict) -> str:
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


def ingress_routes(objects: list[dict], backends: dict[str, str]) -> dict:
    """Traefik's dynamic configuration (file provider) generated from the rendered Ingresses:
    one router per Ingress path, one service per backend Service port; ``backends`` maps a
    Service name to the address standing in for its endpoints (a Service not in it keeps no
    route). Router names are the Ingress's name with rule and path index."""
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
                    {"url": f"http://{backends[backend['name']]}:{container_port(objects, service, port)}"}
                ]}}  # fmt: skip
                router = {
                    "rule": f"Host(`{rule['host']}`) && {path_rule(path)}",
                    "entryPoints": entry_points,
                    "service": name,
                }
                if tls:
                    router["tls"] = {}
                routers[f"{ingress['metadata']['name']}-{r}-{p}"] = router
    # Traefik's file provider refuses an empty routers map ("cannot be a standalone element").
    return {"http": {"routers": routers, "services": lb}} if routers else {}


class TraefikProxy:
    """The Traefik binary in ``netns`` on ADDRESS:443 (entry point websecure, as the chart names
    it), reading every file of ``workdir/dynamic`` (watched: routes come and go while it runs)."""

    def __init__(self, binary: Path, netns, workdir: Path, ca: Path, cert: Path, key: Path):
        self.binary = binary
        self.netns = netns
        self.ca = ca
        self.dynamic = workdir / "dynamic"
        self.dynamic.mkdir(parents=True, exist_ok=True)
        self.write(
            "tls",
            {"tls": {"stores": {"default": {"defaultCertificate": {"certFile": str(cert), "keyFile": str(key)}}}}},
        )
        self.log_path = workdir / "traefik.log"
        self._log = self.log_path.open("wb")
        self.args = [
            f"--entryPoints.websecure.address={ADDRESS}:443",
            f"--providers.file.directory={self.dynamic}",
            "--providers.file.watch=true",
            # Nothing to ask outside the namespace (it could not leave it anyway).
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            "--log.level=INFO",
            "--accessLog=true",
        ]
        # No forwardedHeaders option: as the platform's chart values (roles/traefik) set none,
        # Traefik trusts no client's X-Forwarded-* and writes its own.
        self.proc = subprocess.Popen(
            netns.command(str(binary), *self.args),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}, cwd=workdir,
        )  # fmt: skip
        began = time.monotonic()
        deadline = began + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            if self.netns.call(self._serves_certificate):
                self.ready_s = time.monotonic() - began
                return
            time.sleep(0.3)
        raise AssertionError(f"Traefik did not serve the local CA's certificate within 60 s: {self.log()}")

    def write(self, name: str, config: dict) -> None:
        """Puts ``config`` into the watched directory as ``name``.yml (renamed into place whole)."""
        partial = self.dynamic.parent / f".{name}.yml"
        partial.write_text(yaml.safe_dump(config))
        partial.replace(self.dynamic / f"{name}.yml")

    def remove(self, name: str) -> None:
        (self.dynamic / f"{name}.yml").unlink(missing_ok=True)

    def wait_for(self, host: str, path: str, routed: bool, timeout: float = 30) -> None:
        """Until ``host``+``path`` is routed (anything but Traefik's 404) or not (404)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(host, path)
            if (status != 404) == routed:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"https://{host}{path}: still {status} after {timeout:.0f} s\n{self.log()}")
            time.sleep(0.3)

    def _serves_certificate(self) -> bool:
        """A TLS handshake for keycloak.local verifies against the local CA: the entry point is up
        and the file provider's default certificate is loaded (not Traefik's self-signed one)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        try:
            with (
                socket.create_connection((ADDRESS, 443), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="keycloak.local"),
            ):
                return True
        except (OSError, ssl.SSLError):
            return False

    def request(self, method: str, host: str, path: str, headers: dict | None = None, body=None):
        """``method`` https://host``path`` through Traefik (SNI and Host ``host``): (status, headers, body)."""

        def call():
            context = ssl.create_default_context(cafile=str(self.ca))
            connection = http.client.HTTPSConnection(ADDRESS, 443, timeout=15, context=context)
            connection.sock = context.wrap_socket(
                socket.create_connection((ADDRESS, 443), timeout=15), server_hostname=host
            )
            try:
                connection.request(method, path, body=body, headers={"Host": host, **(headers or {})})
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            finally:
                connection.close()

        return self.netns.call(call)

    def status(self, host: str, path: str) -> int:
        return self.request("GET", host, path)[0]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def access_log(self) -> list[str]:
        """The access log lines so far (Common Log Format plus router and backend URL)."""
        return [
            line for line in self.log_path.read_text(errors="replace").splitlines() if '" ' in line and "HTTP/" in line
        ]

    def stop(self):
        terminate(self.proc, 15)
        self._log.close()
