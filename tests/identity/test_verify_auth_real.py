"""`verify`'s auth row against the real chain (issue 14 item 4, third bullet).

The verify role itself (playbooks/verify.yml's role, tag verify_auth: roles/verify/tasks/auth.yml
and the filters of plugins/module_utils/verify/) runs as ansible-playbook inside the
identity tier's loopback-only network namespace, where everything it talks to runs too:

- the real Keycloak of the tier (https://keycloak.local on 127.0.0.1:443, configured by the
  keycloak role: the ``converged`` fixture), which issues the test user's token;
- the real Task API (python -m task_api serve, the tier's PostgreSQL, Keycloak's JWKS) on
  127.0.0.1:8000;
- the real Traefik 3.7.8 binary of the tier (tests/identity/traefik_proxy.py) on 127.0.0.1:443,
  where tasks.local, keycloak.local and keycloak-admin.local resolve in the namespace, serving a
  certificate of the local CA. Keycloak sits behind it as on the platform (the tier's fixture
  routes the keycloak role's rendered Ingresses), so the token request goes through it too.

Each test adds the Task API's routes to that Traefik's watched file-provider directory, GENERATED
from the platform's own Ingress and Service objects (gitops/task-api as kustomize builds it,
traefik_proxy.ingress_routes), and takes them away again afterwards.

Controls: the same verify run FAILs, naming the row and why, when the route is missing, when the
Task API trusts another issuer, and when the backend accepts any bearer token (an HTTP double
standing in for a Task API that does not check signatures).
"""

from __future__ import annotations

import http.server
import importlib.util
import re
import subprocess
import threading
import time

import pytest
import yaml
from keycloak_server import ISSUER, REALM, REPO
from traefik_proxy import ADDRESS as TRAEFIK_ADDRESS
from traefik_proxy import ingress_routes

pytestmark = pytest.mark.identity

# The verify role as playbooks/verify.yml runs it, for the controller only (the auth check
# delegates every request to localhost and runs once).
VERIFY_PLAY = """---
- name: Verify the platform
  hosts: localhost
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - role: gauntlet.platform.verify
"""


def task_api_objects() -> list[dict]:
    """gitops/task-api as kustomize builds it (what Argo CD applies)."""
    spec = importlib.util.spec_from_file_location("gitops_render_for_identity", REPO / "tests/render/gitops_render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.kustomize(REPO / "gitops" / "task-api")


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


class TaskApiRoutes:
    """The Task API's generated routes in the tier's Traefik, while a test runs."""

    def __init__(self, traefik, objects: list[dict], backends: dict[str, str], drop_ingress: bool):
        self.traefik = traefik
        chosen = [o for o in objects if not (drop_ingress and o["kind"] == "Ingress")]
        config = ingress_routes(chosen, backends)
        if config:
            traefik.write("task-api", config)
        else:
            traefik.remove("task-api")
        traefik.wait_for("tasks.local", "/tasks", routed=bool(config))
        self.access_from = len(traefik.access_log())

    def get(self, path: str) -> int:
        """The status of GET https://tasks.local``path`` through Traefik (no token)."""
        return self.traefik.status("tasks.local", path)

    def access_log(self) -> list[str]:
        """Traefik's access log lines since the routes were put in place."""
        return self.traefik.access_log()[self.access_from :]

    def log(self) -> str:
        return self.traefik.log()


@pytest.fixture
def traefik(identity):
    """Route tasks.local to ``backends`` in the tier's Traefik; the routes go after the test."""
    objects = task_api_objects()

    def start(backends: dict[str, str], drop_ingress: bool = False) -> TaskApiRoutes:
        return TaskApiRoutes(identity.traefik, objects, backends, drop_ingress)

    yield start
    identity.traefik.remove("task-api")
    identity.traefik.wait_for("tasks.local", "/tasks", routed=False)


def run_verify(run_play, identity) -> tuple[subprocess.CompletedProcess, dict[str, tuple[str, str]]]:
    """The verify role, tag verify_auth; returns the run and its table rows {target: (result, detail)}."""
    # The sample inventory's values (the collection's come with role gauntlet in the play; the
    # role's argument spec resolves every default), this
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
    # The table's lines (plugins/module_utils/verify/rows.py render_table), as the callback
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
    access = [line for line in proxy.access_log() if '"GET /tasks?limit=1 HTTP' in line]
    assert len(access) == 3, proxy.log()
    # ... and the test user's token came from Keycloak through Traefik's public route.
    assert any("/protocol/openid-connect/token HTTP" in line and '"keycloak-0-0@file"' in line
               for line in proxy.access_log()), proxy.log()  # fmt: skip
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
