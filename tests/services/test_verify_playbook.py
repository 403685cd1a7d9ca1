"""playbooks/verify.yml: syntax, the filters by FQCN, and a whole run against stand-ins on loopback.

The stand-in run: one HTTPS server on 127.0.0.1 (certificate from a test CA) answers like
Drone, Keycloak (RS256 tokens from a key made for the run), the Task API (verifying them
with PyJWT, as the real one does), Prometheus and Grafana; a real docker-registry with TLS
and htpasswd holds the bundle's images. No cluster: the Kubernetes checks must FAIL with
the reason, the others still run, the table lists every check, and the run fails at the end.
Nothing leaves loopback: the DNS and TLS checks, which need the local domains to resolve,
run apart with `localhost` as the only domain (answered from /etc/hosts).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import jwt
import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from cryptography.hazmat.primitives.asymmetric import rsa

REPO = Path(__file__).resolve().parents[2]
ISSUER = "https://keycloak.local/realms/gauntlet"
SECRETS = {
    "drone/admin-token": "drone-admin-token-9f8e7d",
    "keycloak/test-user-password": "tester-password-5c4b3a",
    "monitoring/grafana-admin-password": "grafana-admin-pass-1a2b3c",
}


# -- the stand-ins -----------------------------------------------------------------------------


class Platform:
    """Drone, Keycloak, the Task API, Prometheus and Grafana on one loopback HTTPS port."""

    def __init__(self, cert: Path, key: Path, task_api_checks_signatures: bool = True):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.checks_signatures = task_api_checks_signatures
        self.issued: list[str] = []
        self.task_api_answers: list[tuple[str, int]] = []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        platform = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def basic_ok(self, user, password):
                expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
                return self.headers.get("Authorization") == expected

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/api/repos/gauntlet/task-api":
                    if self.headers.get("Authorization") != "Bearer " + SECRETS["drone/admin-token"]:
                        return self.answer(401, {"message": "Unauthorized"})
                    return self.answer(200, platform.drone_repo())
                if url.path == "/tasks":
                    return platform.task_api(self)
                if url.path == "/api/v1/targets":
                    return self.answer(200, platform.targets())
                if url.path == "/api/v1/rules":
                    return self.answer(200, platform.rules())
                if url.path.startswith("/api/datasources"):
                    if not self.basic_ok("admin", SECRETS["monitoring/grafana-admin-password"]):
                        return self.answer(401, {"message": "Invalid username or password"})
                    if url.path == "/api/datasources":
                        return self.answer(
                            200,
                            [
                                {"id": 1, "uid": "prometheus", "name": "prometheus", "type": "prometheus"},
                                {"id": 2, "uid": "alertmanager", "name": "Alertmanager", "type": "alertmanager"},
                            ],
                        )
                    if url.path == "/api/datasources/uid/prometheus/health":
                        return self.answer(200, {"status": "OK", "message": "Successfully queried the Prometheus API."})
                    # As real Grafana: the Alertmanager datasource plugin is frontend-only, so /health
                    # has no backend to ask; its API answers through the datasource proxy.
                    if url.path == "/api/datasources/uid/alertmanager/health":
                        return self.answer(404, {"message": "Plugin not found"})
                    if url.path == "/api/datasources/proxy/uid/alertmanager/api/v2/status":
                        return self.answer(
                            200,
                            {"cluster": {"status": "ready"}, "config": {}, "uptime": "", "versionInfo": {}},
                        )
                return self.answer(404, {"message": "Not Found"})

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if url.path == "/realms/gauntlet/protocol/openid-connect/token":
                    return platform.token(self, form)
                if url.path == "/api/v1/query":
                    return self.answer(200, platform.edges(form.get("query", [""])[0]))
                return self.answer(404, {"message": "Not Found"})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # Drone
    @staticmethod
    def drone_repo():
        return {
            "id": 1,
            "namespace": "gauntlet",
            "name": "task-api",
            "slug": "gauntlet/task-api",
            "active": True,
            "config_path": "apps/task-api/.drone.yml",
            "default_branch": "main",
        }

    # Keycloak: the password grant of the public client task-api-cli
    def token(self, handler, form):
        wanted = {
            "grant_type": ["password"],
            "client_id": ["task-api-cli"],
            "username": ["tester"],
            "password": [SECRETS["keycloak/test-user-password"]],
        }
        if any(form.get(k) != v for k, v in wanted.items()):
            return handler.answer(401, {"error": "invalid_grant", "error_description": "Invalid user credentials"})
        now = int(time.time())
        claims = {
            "exp": now + 300,
            "iat": now,
            "iss": ISSUER,
            "aud": ["task-api", "account"],
            "sub": "6f0c3c8e-8d1e-4a57-9d8e-3b2f1a0c9d11",
            "typ": "Bearer",
            "azp": "task-api-cli",
            "preferred_username": "tester",
        }
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "gauntlet-rs256"})
        self.issued.append(token)
        return handler.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300})

    # The Task API: RS256 from the issuer's key, issuer and audience checked.
    def task_api(self, handler):
        header = handler.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        status = 401
        if token:
            try:
                if self.checks_signatures:
                    jwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience="task-api", issuer=ISSUER)
                status = 200
            except jwt.InvalidTokenError:
                status = 401
        self.task_api_answers.append((token, status))
        if status == 200:
            return handler.answer(200, {"items": [], "limit": 1, "offset": 0, "next_offset": None})
        return handler.answer(401, {"detail": "missing or invalid bearer token"})

    # Prometheus
    @staticmethod
    def targets():
        def target(pool, url, health, error=""):
            return {"scrapePool": pool, "scrapeUrl": url, "health": health, "lastError": error, "labels": {}}

        return {
            "status": "success",
            "data": {
                "activeTargets": [
                    target("serviceMonitor/monitoring/prometheus-k8s/0", "http://10.42.0.12:9090/metrics", "up"),
                    target(
                        "serviceMonitor/task-api/task-api/0",
                        "http://10.42.1.7:8000/metrics",
                        "down",
                        "context deadline exceeded",
                    ),
                ],
                "droppedTargets": [],
            },
        }

    @staticmethod
    def rules():
        rule = {"name": "TaskAPIDown", "health": "ok", "type": "alerting", "lastError": ""}
        return {"status": "success", "data": {"groups": [{"name": "gauntlet.task-api", "rules": [rule]}]}}

    @staticmethod
    def edges(query):
        assert "response_total" in query
        metric = {
            "namespace": "argocd",
            "deployment": "argocd-repo-server",
            "dst_namespace": "gitea",
            "dst_deployment": "gitea",
            "tls": "true",
        }
        return {
            "status": "success",
            "data": {"resultType": "vector", "result": [{"metric": metric, "value": [time.time(), "0.2"]}]},
        }


# -- fixtures ----------------------------------------------------------------------------------


def write_inventory(tmp_path: Path, server: dict | None = None, agent: dict | None = None) -> Path:
    """By default hosts that are never contacted (the checks run on the controller); the sample's group_vars."""
    inventory = {
        "all": {
            "children": {
                "k3s_cluster": {
                    "children": {
                        "k3s_servers": {"hosts": {"s1": {"node_ip": "10.77.0.11", **(server or {})}}},
                        "k3s_agents": {"hosts": {"a1": {"node_ip": "10.77.0.21", **(agent or {})}}},
                    }
                },
                "registry": {"hosts": {"r1": {"node_ip": "10.77.0.30"}}},
            }
        }
    }
    folder = tmp_path / "inventory"
    (folder / "group_vars").mkdir(parents=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump(inventory))
    os.symlink(REPO / "inventory" / "sample" / "group_vars" / "all", folder / "group_vars" / "all")
    return folder


@pytest.fixture
def stage(tmp_path, registry_factory, test_images):
    """Credentials, the local CA, a bundle lock, a preloaded registry and the stand-ins.

    Returns make(task_api_checks_signatures=True) -> (platform, extra vars file). The
    stand-ins serve the registry's certificate (127.0.0.1, signed by its test CA), so one
    CA file is the local CA for every request, as on a real platform.
    """
    started = []

    def make(task_api_checks_signatures=True):
        reg = registry_factory(auth=True, tls=True)
        push_bundle(
            OciLayout(str(test_images.write_layout(tmp_path / "layout"))),
            RegistryClient(reg.host, **reg.client_kwargs()),
        )
        platform = Platform(
            reg.workdir / "tls" / "server.crt", reg.workdir / "tls" / "server.key", task_api_checks_signatures
        )
        started.append(platform)
        credentials = tmp_path / "credentials"
        for name, value in {
            **SECRETS,
            "registry/node-password": reg.password,
            "ca/ca.crt": reg.ca_file.read_text(),
        }.items():
            path = credentials / name
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            path.write_text(value.rstrip("\n") + "\n")
            path.chmod(0o600)
        credentials.chmod(0o700)  # private, as the credential lookup makes it (validation checks)
        bundle = tmp_path / "bundle"
        bundle.mkdir(exist_ok=True)
        lock = bundle_lock.empty_lock()
        for name, (digest, _mt) in test_images.images.items():
            bundle_lock.set_image(lock, name, digest)
        bundle_lock.write_lock(str(bundle / "bundle.lock.json"), lock)
        extra = {
            "gauntlet_credentials_dir": str(credentials),
            "gauntlet_bundle_dir": str(bundle),
            # No cluster here: a kubeconfig that does not exist.
            "gauntlet_kubeconfig": str(tmp_path / "no-cluster" / "kubeconfig.yaml"),
            "verify_registry": reg.host,
            "verify_registry_username": reg.username,
            "verify_drone_url": platform.url,
            "verify_keycloak_url": platform.url,
            "verify_task_api_url": f"{platform.url}/tasks?limit=1",
            "verify_prometheus_url": platform.url,
            "verify_grafana_url": platform.url,
            "verify_settle_retries": 0,
            "verify_timeout": 5,
        }
        (tmp_path / "extra.json").write_text(json.dumps(extra))
        return platform, tmp_path / "extra.json"

    yield make
    for platform in started:
        platform.stop()


def table_of(stdout: str) -> dict:
    """{(check, target): (result, first detail line)} from the printed table (JSON result format)."""
    assert '"| CHECK ' in stdout, f"no table printed:\n{stdout[-5000:]}"
    start = stdout.index('"| CHECK ')
    lines = json.loads("[" + stdout[start : stdout.index("]", start)] + "]")
    rows = {}
    for line in lines[2:-1]:
        check, target, result, detail = (cell.strip() for cell in line.removeprefix("| ").split(" | ", 3))
        if check:
            rows[(check, target)] = (result, detail)
    rows["summary"] = lines[-1].removeprefix("| ")
    return rows


# -- tests -------------------------------------------------------------------------------------

stand_ins = pytest.mark.integration


def test_syntax(run_playbook):
    result = run_playbook("verify.yml", REPO / "inventory" / "sample", "--syntax-check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_filters_load_by_fqcn(tmp_path, ansible_env):
    """A tiny playbook renders rows through the collection's filters, by their full names."""
    playbook = tmp_path / "table.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Render",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Table",
                            "ansible.builtin.debug": {
                                "msg": "{{ [('linkerd' | gauntlet.platform.verify_row('meshed namespaces', 'SKIP', 'disabled')),"
                                " ({'status': 200} | gauntlet.platform.verify_http_status('task-api', 'forged', 401))]"
                                " | gauntlet.platform.verify_table }}"
                            },
                        }
                    ],
                }
            ]
        )
    )
    result = subprocess.run(
        ["ansible-playbook", str(playbook)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"| linkerd  | meshed namespaces | SKIP   | disabled"' in result.stdout
    assert '"| task-api | forged            | FAIL   | HTTP 200 OK, expected 401"' in result.stdout
    assert '"| 2 checks: 0 OK, 1 FAIL, 1 SKIP"' in result.stdout


@stand_ins
def test_every_check_runs_and_the_run_fails_at_the_end(stage, tmp_path, run_playbook):
    platform, extra = stage()
    result = run_playbook(
        # the images, certificates and deployed rows have their own tests (tests/cluster/test_verify_images.py,
        # tests/unit/plugins/module_utils/test_verify_certificates.py, tests/cluster/test_verify_stage.py):
        # they need pods, hosts and the Task API's Deployment
        "verify.yml",
        write_inventory(tmp_path),
        "-e",
        f"@{extra}",
        "--skip-tags",
        "verify_dns,verify_tls,verify_images,verify_certificates,verify_deployed",
    )
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    table = table_of(result.stdout)
    registry_row = next(v for k, v in table.items() if k != "summary" and k[0] == "registry")
    assert registry_row == ("OK", "all 3 images of the bundle lock present")
    assert table[("pods", "all namespaces")][0] == "FAIL"
    assert "no-cluster/kubeconfig.yaml" in table[("pods", "all namespaces")][1]
    assert table[("argocd", "argocd/task-api")][0] == "FAIL"
    assert table[("drone", "gauntlet/task-api")] == ("OK", "active, pipeline apps/task-api/.drone.yml")
    assert table[("keycloak", "tester@gauntlet via task-api-cli")] == ("OK", "access token for tester, aud task-api")
    assert table[("task-api", "GET with the token")] == ("OK", "HTTP 200 OK: a valid Keycloak token is accepted")
    assert table[("task-api", "GET with a forged token")] == (
        "OK",
        "HTTP 401 unauthorized: a token signed by an unknown key is refused",
    )
    assert table[("task-api", "GET without a token")] == ("OK", "HTTP 401 unauthorized: anonymous requests are refused")
    assert table[("linkerd", "meshed namespaces")] == ("OK", "1 edges, all mTLS")
    assert table[("prometheus", "targets")] == ("FAIL", "1 of 2 targets not up")
    assert "context deadline exceeded" in result.stdout
    assert table[("prometheus", "rules")][0] == "OK"
    assert table[("grafana", "grafana datasource prometheus (prometheus)")][0] == "OK"
    assert table[("grafana", "grafana datasource Alertmanager (alertmanager)")] == (
        "OK",
        "HTTP 200 from /api/v2/status through Grafana's datasource proxy",
    )
    assert table["summary"] == "13 checks: 10 OK, 3 FAIL, 0 SKIP"
    assert "3 check(s) failed: pods all namespaces, argocd argocd/task-api, prometheus targets." in out
    # The forged token kept the real one's header and claims; the Task API refused it on the signature.
    (real,) = platform.issued
    forged = [token for token, status in platform.task_api_answers if token and token != real]
    assert len(forged) == 1 and forged[0].rsplit(".", 1)[0] == real.rsplit(".", 1)[0]
    # No secret and no token reaches the output.
    for secret in [*SECRETS.values(), real, forged[0].rsplit(".", 1)[1]]:
        assert secret not in out


@stand_ins
def test_a_task_api_that_trusts_any_signature_fails(stage, tmp_path, run_playbook):
    _platform, extra = stage(task_api_checks_signatures=False)
    # In check mode too: verify only reads, so --check runs the same requests.
    result = run_playbook(
        "verify.yml", write_inventory(tmp_path), "-e", f"@{extra}", "--tags", "verify_auth", "--check"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    table = table_of(result.stdout)
    assert table[("task-api", "GET with a forged token")] == (
        "FAIL",
        "HTTP 200 OK, expected 401: a token signed by an unknown key is refused",
    )
    assert table[("task-api", "GET with the token")][0] == "OK"
    assert table["summary"] == "4 checks: 3 OK, 1 FAIL, 0 SKIP"
    assert "1 check(s) failed: task-api GET with a forged token." in result.stdout + result.stderr


@stand_ins
def test_missing_credentials_are_named(stage, tmp_path, run_playbook):
    _platform, extra = stage()
    for name in SECRETS:
        (tmp_path / "credentials" / name).unlink()
    result = run_playbook(
        "verify.yml", write_inventory(tmp_path), "-e", f"@{extra}", "--tags", "verify_drone,verify_auth,verify_grafana"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    table = table_of(result.stdout)
    credentials = tmp_path / "credentials"
    assert table[("drone", "gauntlet/task-api")] == (
        "FAIL",
        f"credential drone/admin-token is missing or empty in {credentials}: run the platform stage (tag drone) first",
    )
    assert table[("keycloak", "tester@gauntlet via task-api-cli")][1].startswith(
        "credential keycloak/test-user-password"
    )
    assert table[("task-api", "GET with the token")] == ("SKIP", "no token from Keycloak")
    assert table[("task-api", "GET with a forged token")] == ("SKIP", "no token from Keycloak to forge")
    assert table[("grafana", "grafana datasources")][1].startswith("credential monitoring/grafana-admin-password")
    assert not (credentials / "drone" / "admin-token").exists(), "verify must never create a credential"


@stand_ins
def test_dns_and_tls_checks_on_loopback(stage, tmp_path, run_playbook):
    """The node DNS and TLS checks with `localhost` as the only domain, answered from /etc/hosts.

    Node s1 is this machine (local connection); node a1 is unreachable (SSH to a closed
    loopback port). The domain's certificate is the stand-in's, issued for localhost.
    """
    platform, extra = stage()
    port = platform.url.rsplit(":", 1)[1]
    overrides = json.loads(extra.read_text()) | {
        "verify_dns_entries": [{"address": "127.0.0.1", "names": ["localhost"]}],
        "verify_tls_services": {"tasks": "localhost"},
        "verify_tls_ports": {"tasks": int(port)},
        # The test CA's certificates live for a day.
        "verify_tls_min_days": 0,
    }
    extra.write_text(json.dumps(overrides))
    inventory = write_inventory(
        tmp_path,
        server={"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        agent={"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_ssh_common_args": "-o ConnectTimeout=2"},
    )
    result = run_playbook("verify.yml", inventory, "-e", f"@{extra}", "--tags", "verify_dns,verify_tls")
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    table = table_of(result.stdout)
    assert table[("dns", "node s1")] == ("OK", "1 names resolve to the expected addresses")
    result_a1, detail_a1 = table[("dns", "node a1")]
    assert result_a1 == "FAIL" and detail_a1.startswith("not checked: host unreachable"), detail_a1
    assert table[("dns", "pod")][0] == "FAIL"
    assert table[("dns", "pod")][1].startswith("cannot list pods: Could not find or access")
    tls_result, tls_detail = table[("tls", f"https://localhost:{port}/tasks")]
    assert tls_result == "OK", tls_detail
    assert tls_detail.startswith("HTTP 401; certificate valid until ")
    assert table["summary"] == "4 checks: 2 OK, 2 FAIL, 0 SKIP"


@pytest.mark.skipif(
    not os.environ.get("KUBECONFIG"),
    reason="needs a cluster: set KUBECONFIG to a platform built by site.yml "
    "(and GAUNTLET_INVENTORY to its inventory, default inventory/lab)",
)
@pytest.mark.cluster
def test_the_real_platform_passes(run_playbook):
    inventory = os.environ.get("GAUNTLET_INVENTORY", str(REPO / "inventory" / "lab"))
    result = run_playbook("verify.yml", inventory, "-e", f"gauntlet_kubeconfig={os.environ['KUBECONFIG']}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert " 0 FAIL," in result.stdout
