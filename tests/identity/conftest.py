"""Fixtures of the identity tier: one real Keycloak per session (tests/keycloak_server.py), behind
one real Traefik (tests/identity/traefik_proxy.py), as on the platform.

The keycloak role is rendered first (render mode, inventory/sample with the tier's values, tag
keycloak_install): Keycloak starts with the arguments and KC_* options of the rendered
Deployment (``pod_environment``: HTTP on 8080 behind a proxy, proxy-headers xforwarded,
proxy-trusted-addresses, hostname and hostname-admin) on an address of the pod network the
role trusts (POD_ADDRESS), and Traefik routes keycloak.local and keycloak-admin.local to it
with routes generated from the rendered Ingresses. Only the database (the tier's PostgreSQL)
and the build-time options (built once by scripts/install-keycloak) are the tier's own.

Keycloak, its PostgreSQL, Traefik and everything that calls them (ansible-playbook, the Task
API) run in one loopback-only network namespace; this process reaches them on the namespace's
thread (``Identity.http``). Without the installed Keycloak (scripts/install-keycloak), Traefik
(scripts/install-traefik), PostgreSQL, root or `ip netns`, the tier skips with one line, and
fails in CI (GAUNTLET_REQUIRE_ALL=1).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import keycloak_server
import pytest
import yaml
from collection_defaults import collection_defaults
from contract_paths import CONTRACT_PATHS
from controlplane import NetNS, require_netns
from keycloak_server import ADMIN_URL, ISSUER, NAMES, REALM, TASK_API, KeycloakServer, LocalNames, terminate

REPO = Path(__file__).resolve().parents[2]
if str(TASK_API) not in sys.path:
    sys.path.insert(0, str(TASK_API))
# Helper modules beside this file (traefik_proxy) import by name under importlib mode.
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from needs import missing  # noqa: E402
from task_api_dev.services import PostgresServer, ServiceUnavailable, pg_bindir  # noqa: E402
from traefik_proxy import TraefikProxy, ingress_routes, traefik_binary  # noqa: E402

# The local CA and Traefik's default certificate for the tier's host names, as the traefik role
# asks role local_ca for the ingress certificate of every local domain.
CA_PLAY = """---
- name: The local CA and Traefik's certificate
  hosts: localhost
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The CA
      ansible.builtin.import_role:
        name: gauntlet.platform.local_ca
    - name: The certificate Traefik serves for keycloak.local, keycloak-admin.local and tasks.local
      ansible.builtin.include_role:
        name: gauntlet.platform.local_ca
        tasks_from: certificate
      vars:
        local_ca_cert_name: ingress
        local_ca_cert_dns: [keycloak.local, keycloak-admin.local, tasks.local]
"""

# The keycloak role's objects as the platform renders them (render mode writes them as files).
RENDER_PLAY = """---
- name: Render the keycloak role
  hosts: localhost
  become: false
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - role: gauntlet.platform.keycloak
"""
ROLE_VARS = yaml.safe_load((REPO / "roles" / "keycloak" / "vars" / "main.yml").read_text())
# Keycloak's address in the namespace: an address of the pod network the role's
# proxy-trusted-addresses names without the mesh (__keycloak_pod_network), as a pod address is.
# Traefik's connections to it come from this address (the kernel picks the destination's own
# address as the source of a local connection), so they come from the pod network, as Traefik
# pods' do; a client on 127.0.0.1 is outside it.
POD_ADDRESS = str(ipaddress.ip_network(ROLE_VARS["__keycloak_pod_network"])[10])

# The keycloak role as an operator runs its configuration: the whole role, tag keycloak_configure
# (the settings check and configure.yml).
ROLE_PLAY = """---
- name: Configure Keycloak
  hosts: localhost
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - role: gauntlet.platform.keycloak
"""


class Identity:
    """The running tier: the namespace, Keycloak, PostgreSQL, Traefik, the keycloak role's
    rendered objects and the files around them."""

    def __init__(
        self, netns, keycloak: KeycloakServer, postgres: PostgresServer, traefik: TraefikProxy, rendered: list[dict],
        workdir: Path, credentials: Path,
    ):  # fmt: skip
        self.netns = netns
        self.keycloak = keycloak
        self.postgres = postgres
        self.traefik = traefik
        self.rendered = rendered
        self.workdir = workdir
        self.credentials = credentials
        self.ca = credentials / "ca" / "ca.crt"
        self.pod_address = POD_ADDRESS

    def rendered_deployment(self) -> dict:
        """The keycloak role's rendered Deployment (the one Keycloak here runs as)."""
        return rendered_object(self.rendered, "Deployment", "keycloak")

    def http(self, method: str, url: str, **kwargs):
        """A `requests` call made inside the namespace, TLS verified with the local CA."""
        import requests

        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("verify", str(self.ca))
        return self.netns.call(requests.request, method, url, **kwargs)

    def session_call(self, session, method: str, url: str, **kwargs):
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("verify", str(self.ca))
        return self.netns.call(session.request, method, url, **kwargs)

    def admin_token(self) -> str:
        response = self.http(
            "POST",
            f"{ADMIN_URL}/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": self.keycloak.admin_username,
                "password": self.keycloak.admin_password,
            },
        )
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def admin(self, method: str, path: str, **kwargs):
        """A call of Keycloak's admin REST API (/admin/realms/...) as the bootstrap admin."""
        headers = {"Authorization": f"Bearer {self.admin_token()}"}
        return self.http(method, f"{ADMIN_URL}/admin/realms{path}", headers=headers, **kwargs)

    def credential(self, name: str) -> str:
        return (self.credentials / name).read_text().strip()


def rendered_object(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"the keycloak role rendered {len(found)} {kind} {name}"
    return found[0]


def keycloak_container(objects: list[dict]) -> dict:
    deployment = rendered_object(objects, "Deployment", "keycloak")
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "keycloak"]
    return container


def pod_environment(objects: list[dict], fields: dict[str, str]) -> dict[str, str]:
    """The environment the kubelet gives the rendered keycloak container: literal values with
    their $(VAR) references to earlier variables expanded, secretKeyRef from the rendered
    Secrets, fieldRef from ``fields`` (the downward API's values for this pod)."""
    environment: dict[str, str] = {}
    for item in keycloak_container(objects)["env"]:
        source = item.get("valueFrom")
        if source is None:
            value = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: environment.get(m[1], m[0]), item["value"])
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = base64.b64decode(rendered_object(objects, "Secret", ref["name"])["data"][ref["key"]]).decode()
        elif "fieldRef" in source:
            value = fields[source["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError(f"env {item['name']}: no stand-in for {source}")
        environment[item["name"]] = value
    return environment


def container_port(container: dict, name: str) -> int:
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def _ready(objects: list[dict]):
    """The rendered readiness probe (an httpGet of the management port) at the pod's address."""
    import requests

    probe = keycloak_container(objects)["readinessProbe"]["httpGet"]
    port = (
        probe["port"] if isinstance(probe["port"], int) else container_port(keycloak_container(objects), probe["port"])
    )
    url = f"http://{POD_ADDRESS}:{port}{probe['path']}"

    def check() -> bool:
        return requests.get(url, timeout=5).status_code == 200

    return check


def _render(env, netns, workdir: Path, credentials: Path) -> list[dict]:
    """The keycloak role rendered (render mode, inventory/sample, the tier's values) inside the
    namespace (it contacts nothing; the namespace makes sure). Also creates the credentials the
    role reads (postgres/keycloak, keycloak/admin-password)."""
    (workdir / "render.yml").write_text(RENDER_PLAY)
    out = workdir / "render"
    variables = tier_variables(credentials, gauntlet_render_dir=str(out))
    result = subprocess.run(
        netns.command("ansible-playbook", "-i", str(REPO / "inventory" / "sample"), str(workdir / "render.yml"),
                      "-e", json.dumps(variables), "--tags", "keycloak_install"),
        capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return [yaml.safe_load(path.read_text()) for path in sorted((out / "keycloak").glob("*.yaml"))]


def _ansible(env, netns, workdir: Path, play: str, variables: dict, *args: str, timeout: int = 600):
    import subprocess

    (workdir / "play.yml").write_text(play)
    inventory = {
        "all": {"hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    }
    (workdir / "hosts.yml").write_text(yaml.safe_dump(inventory))
    command = [
        "ansible-playbook",
        str(workdir / "play.yml"),
        "-i",
        str(workdir / "hosts.yml"),
        "-e",
        json.dumps(variables),
        *args,
    ]
    return subprocess.run(
        netns.command(*command) if netns else command,
        capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=timeout,
    )  # fmt: skip


@pytest.fixture(scope="session")
def identity(tmp_path_factory):
    """Keycloak in production mode with its database, behind Traefik, in a loopback-only namespace."""
    require_netns()
    dist = keycloak_server.distribution()
    keycloak_server.java_home()
    binary = traefik_binary()
    bindir = pg_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries not found (Debian package postgresql, scripts/setup installs it)")
    workdir = tmp_path_factory.mktemp("identity")
    credentials = workdir / "credentials"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(workdir / "facts")
    ca_dir = workdir / "ca-play"
    ca_dir.mkdir()
    result = _ansible(
        env, None, ca_dir, CA_PLAY,
        {"gauntlet_credentials_dir": str(credentials), "gauntlet_cluster_name": "identity",
         "local_domains_services": {"keycloak": NAMES[0], "keycloak_admin": NAMES[1]}},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    netns = NetNS(f"gauntlet-kc-{os.getpid()}")
    keycloak_server.hosts_file(netns.name)
    names = LocalNames()
    postgres = keycloak = traefik = None
    try:
        rendered = _render(env, netns, workdir, credentials)
        subprocess.run(["ip", "-n", netns.name, "addr", "add", f"{POD_ADDRESS}/32", "dev", "lo"], check=True)
        try:
            postgres = PostgresServer(bindir, listen_addresses="127.0.0.1")
        except ServiceUnavailable as error:
            missing(str(error))
        postgres.prefix = netns.command()
        postgres.start_or_explain()
        postgres.createdb("keycloak")
        options = pod_environment(rendered, {"status.podIPs": POD_ADDRESS, "status.podIP": POD_ADDRESS})
        # The tier's own: its database (PostgreSQL trusts local connections: the rendered password
        # goes unused), and no build-time options (scripts/install-keycloak built the
        # distribution once; the role's init container builds with them, which
        # tests/identity/test_keycloak_options.py runs on its own).
        options.update(KC_DB_URL="jdbc:postgresql://127.0.0.1:5432/keycloak", KC_DB_USERNAME=postgres.user)
        for name in ROLE_VARS["__keycloak_build_options"]:
            options.pop(name, None)
        keycloak = KeycloakServer(
            dist, workdir, netns,
            # One node: no JGroups discovery or listener (the deployed image clusters through
            # the database, jdbc-ping; a single test server has nobody to find).
            args=[*keycloak_container(rendered)["args"], "--cache=local"],
            options=options,
            # As the keycloak role's pod runs it: read-only home, emptyDirs for lib/quarkus and data.
            read_only_home=True,
        )  # fmt: skip
        keycloak.start(_ready(rendered))
        print(
            f"\nidentity tier: Keycloak ready after {keycloak.startup_seconds:.1f} s, "
            f"RSS {keycloak.rss_mib():.0f} MiB (heap {keycloak_server.HEAP})"
        )
        ca_files = credentials / "ca"
        traefik = TraefikProxy(
            binary, netns, workdir / "traefik", ca_files / "ca.crt", ca_files / "ingress.crt", ca_files / "ingress.key"
        )
        # keycloak-service's endpoints: the Keycloak process at the pod's address.
        traefik.write("keycloak", ingress_routes(rendered, {ROLE_VARS["__keycloak_service"]: POD_ADDRESS}))
        traefik.wait_for(NAMES[1], "/realms/master/.well-known/openid-configuration", routed=True)
        yield Identity(netns, keycloak, postgres, traefik, rendered, workdir, credentials)
    finally:
        if traefik:
            traefik.stop()
        if keycloak:
            keycloak.stop()
        if postgres:
            postgres.stop()
        names.close()
        netns.close()
        keycloak_server.remove_hosts_file(netns.name)


@pytest.fixture(scope="session")
def role_env(identity):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(identity.workdir / "facts")
    return env


def role_variables(identity, **extra) -> dict:
    """The inventory values the keycloak role's configuration reads, for this Keycloak."""
    return tier_variables(identity.credentials, **extra)


def tier_variables(credentials: Path, **extra) -> dict:
    """The tier's inventory values of the keycloak role (its render and its configuration runs)."""
    variables = {
        "gauntlet_credentials_dir": str(credentials),
        **CONTRACT_PATHS,
        "gauntlet_cluster_name": "identity",
        "gauntlet_keycloak_realm": REALM,
        "gauntlet_oidc_issuer": ISSUER,
        "gauntlet_ingress_address": "127.0.0.1",
        "gauntlet_images": {"keycloak": "quay.io/keycloak/keycloak:26.7.4"},
        # The roles' namespaces default to its entries: every entry, as the collection has them.
        "gauntlet_namespaces": collection_defaults()["gauntlet_namespaces"],
        "gauntlet_linkerd_enabled": False,
        "gauntlet_linkerd_inject_namespaces": [],
        "local_domains_services": {
            "keycloak": NAMES[0],
            "keycloak_admin": NAMES[1],
            "grafana": "grafana.local",
            "argocd": "argocd.local",
        },
        "keycloak_test_access": True,
        "keycloak_test_user_realm_roles": ["task-admin", "grafana-editor"],
        # The role's minimum: the expired-token test waits this long.
        "keycloak_access_token_lifespan": 30,
        "keycloak_wait_retries": 3,
        "keycloak_wait_delay": 2,
    }
    variables.update(extra)
    return variables


@pytest.fixture(scope="session")
def run_role(identity, role_env, tmp_path_factory):
    """ansible-playbook of the keycloak role (tag keycloak_configure) inside the namespace."""
    workdir = tmp_path_factory.mktemp("role")

    def run(*args: str, **extra):
        return _ansible(
            role_env,
            identity.netns,
            workdir,
            ROLE_PLAY,
            role_variables(identity, **extra),
            "--tags",
            "keycloak_configure",
            *args,
        )

    return run


@pytest.fixture(scope="session")
def converged(identity, run_role):
    """The role applied once (the tests that need the realm use this)."""
    result = run_role()
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return result


TASK_API_URL = "http://127.0.0.1:8000"


class TaskApi:
    """The Task API process inside the namespace, trusting the real Keycloak."""

    def __init__(self, identity, workdir: Path, **settings):
        self.identity = identity
        self.log_path = workdir / f"task-api-{secrets.token_hex(4)}.log"
        configmap = yaml.safe_load((REPO / "gitops/task-api/configmap.yaml").read_text())["data"]
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(TASK_API),
            "TASK_API_DATABASE_URL": identity.postgres.dsn(),
            "TASK_API_OIDC_ISSUER": ISSUER,
            "TASK_API_OIDC_AUDIENCE": "task-api",
            # What gitops deploys: the clients whose tokens the API accepts (azp), and the keys
            # at the public URL, through Traefik.
            "TASK_API_OIDC_AUTHORIZED_PARTIES": configmap["TASK_API_OIDC_AUTHORIZED_PARTIES"],
            "TASK_API_JWKS_URL": configmap["TASK_API_JWKS_URL"],
            "TASK_API_JWKS_CA_FILE": str(identity.ca),
            "TASK_API_HOST": "127.0.0.1",
            "TASK_API_PORT": "8000",
            "TASK_API_JWT_LEEWAY": "1",
            "TASK_API_LOG_LEVEL": "INFO",
        }
        env.update({f"TASK_API_{k.upper()}": str(v) for k, v in settings.items()})
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            identity.netns.command(sys.executable, "-m", "task_api", "serve"),
            env=env, cwd=TASK_API, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log()
            try:
                if self.get("/readyz").status_code == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"the Task API did not become ready: {self.log()}")

    def get(self, path: str, token: str | None = None):
        import requests

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            return self.identity.http("GET", TASK_API_URL + path, headers=headers, timeout=30)
        except requests.ConnectionError as error:
            raise OSError(str(error)) from None

    def post(self, path: str, token: str, body: dict):
        return self.identity.http(
            "POST", TASK_API_URL + path, headers={"Authorization": f"Bearer {token}"}, json=body, timeout=30
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self):
        terminate(self.proc, 20)
        self._log.close()


@pytest.fixture
def task_api_factory(identity, converged, tmp_path):
    started = []

    def start(**settings) -> TaskApi:
        api = TaskApi(identity, tmp_path, **settings)
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()


@pytest.fixture(scope="session")
def run_play(identity, role_env, tmp_path_factory):
    """ansible-playbook of any play inside the namespace (the verify role's, for instance)."""
    workdir = tmp_path_factory.mktemp("plays")

    def run(play: str, variables: dict, *args: str):
        return _ansible(role_env, identity.netns, workdir, play, variables, *args)

    return run
