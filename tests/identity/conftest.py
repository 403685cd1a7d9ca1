"""Fixtures of the identity tier: one real Keycloak per session (tests/keycloak_server.py).

Keycloak, its PostgreSQL and everything that calls them (ansible-playbook, the Task API) run
in one loopback-only network namespace; this process reaches them on the namespace's thread
(``Identity.http``). Without the installed Keycloak (scripts/install-keycloak), PostgreSQL,
root or `ip netns`, the tier skips with one line, and fails in CI (GAUNTLET_REQUIRE_ALL=1).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import keycloak_server
import pytest
import yaml
from controlplane import NetNS, require_netns
from keycloak_server import ADMIN_URL, ISSUER, NAMES, REALM, TASK_API, URL, KeycloakServer, LocalNames, terminate

REPO = Path(__file__).resolve().parents[2]
if str(TASK_API) not in sys.path:
    sys.path.insert(0, str(TASK_API))

from needs import missing  # noqa: E402
from task_api_dev.services import PostgresServer, ServiceUnavailable, pg_bindir  # noqa: E402

# The local CA and one certificate for both Keycloak host names, as the traefik role asks
# role local_ca for the ingress certificate.
CA_PLAY = """---
- name: The local CA and Keycloak's certificate
  hosts: localhost
  gather_facts: false
  tasks:
    - name: The CA
      ansible.builtin.import_role:
        name: gauntlet.platform.local_ca
    - name: The certificate of keycloak.local and keycloak-admin.local
      ansible.builtin.include_role:
        name: gauntlet.platform.local_ca
        tasks_from: certificate
      vars:
        local_ca_cert_name: keycloak
        local_ca_cert_dns: [keycloak.local, keycloak-admin.local]
    - name: The certificate Traefik serves for tasks.local (tests/identity/test_verify_auth_real.py)
      ansible.builtin.include_role:
        name: gauntlet.platform.local_ca
        tasks_from: certificate
      vars:
        local_ca_cert_name: ingress
        local_ca_cert_dns: [tasks.local]
"""

# The keycloak role as an operator runs its configuration: the whole role, tag keycloak_configure
# (the settings check and configure.yml).
ROLE_PLAY = """---
- name: Configure Keycloak
  hosts: localhost
  gather_facts: false
  roles:
    - role: gauntlet.platform.keycloak
"""


class Identity:
    """The running tier: the namespace, Keycloak, PostgreSQL and the files around them."""

    def __init__(self, netns, keycloak: KeycloakServer, postgres: PostgresServer, workdir: Path, credentials: Path):
        self.netns = netns
        self.keycloak = keycloak
        self.postgres = postgres
        self.workdir = workdir
        self.credentials = credentials
        self.ca = credentials / "ca" / "ca.crt"

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


def _ready(ca: Path):
    import requests

    def check() -> bool:
        response = requests.get(f"{URL}/realms/master/.well-known/openid-configuration", verify=str(ca), timeout=5)
        return response.status_code == 200

    return check


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
    """Keycloak running in production mode with its database, in a loopback-only namespace."""
    require_netns()
    dist = keycloak_server.distribution()
    keycloak_server.java_home()
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
    postgres = keycloak = None
    try:
        try:
            postgres = PostgresServer(bindir, listen_addresses="127.0.0.1")
        except ServiceUnavailable as error:
            missing(str(error))
        postgres.prefix = netns.command()
        postgres.start_or_explain()
        postgres.createdb("keycloak")
        keycloak = KeycloakServer(
            dist, workdir, netns,
            jdbc_url="jdbc:postgresql://127.0.0.1:5432/keycloak", db_user=postgres.user,
            cert=credentials / "ca" / "keycloak.crt", key=credentials / "ca" / "keycloak.key",
            # As the keycloak role's pod runs it: read-only home, emptyDirs for lib/quarkus and data.
            read_only_home=True,
        )  # fmt: skip
        # The role reads the admin password from the credentials folder (keycloak/admin-password).
        (credentials / "keycloak").mkdir(mode=0o700, parents=True, exist_ok=True)
        secret = credentials / "keycloak" / "admin-password"
        secret.touch(mode=0o600)
        secret.write_text(keycloak.admin_password + "\n")
        keycloak.start(_ready(credentials / "ca" / "ca.crt"))
        print(
            f"\nidentity tier: Keycloak ready after {keycloak.startup_seconds:.1f} s, "
            f"RSS {keycloak.rss_mib():.0f} MiB (heap {keycloak_server.HEAP})"
        )
        yield Identity(netns, keycloak, postgres, workdir, credentials)
    finally:
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
    variables = {
        "gauntlet_credentials_dir": str(identity.credentials),
        "gauntlet_cluster_name": "identity",
        "gauntlet_keycloak_realm": REALM,
        "gauntlet_oidc_issuer": ISSUER,
        "gauntlet_ingress_address": "127.0.0.1",
        "gauntlet_images": {"keycloak": "quay.io/keycloak/keycloak:26.7.4"},
        "gauntlet_namespaces": {"task_api": "task-api", "monitoring": "monitoring", "keycloak": "keycloak"},
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
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(TASK_API),
            "TASK_API_DATABASE_URL": identity.postgres.dsn(),
            "TASK_API_OIDC_ISSUER": ISSUER,
            "TASK_API_OIDC_AUDIENCE": "task-api",
            # What gitops deploys: the clients whose tokens the API accepts (azp).
            "TASK_API_OIDC_AUTHORIZED_PARTIES": yaml.safe_load((REPO / "gitops/task-api/configmap.yaml").read_text())[
                "data"
            ]["TASK_API_OIDC_AUTHORIZED_PARTIES"],
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
