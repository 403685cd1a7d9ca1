"""The gitea role's configure and package index tasks, the pip install of the pipelines and the
gitops webhook, against the REAL Gitea (tests/gitea_server.py: Gitea 1.27.3 built from its Go
module by scripts/build-gitea, on SQLite, HTTPS with a test CA, in a loopback-only namespace).

The same harness as tests/playbooks/test_service_roles_against_doubles.py runs the role's task
files from their first API task (the steps before need a cluster: Deployment waits, the CLI
through ``kubectl exec``; the fixture runs the same ``gitea admin user create``), but pointed at
the real server; whatever the double and the server disagree on is a finding, and the double
follows the server (tests/unit/plugins/service_doubles.py).

The only stand-in is Argo CD's side of the webhook: tests/argocd_webhook.py re-expresses Argo CD
v3.5.1's Gogs check; the delivery it judges is the one real Gitea sent to a receiver on loopback.
The gitops promotion tests (roles/drone/files/gitops_promote.py) play Drone's and the registry's
parts themselves: the commit statuses a Drone build posts (with a token of the CI account, where
Drone uses its OAuth2 grant) and the notification envelopes the registry posts to the registry
token server, whose own code keeps the push record the script reads.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import gitea_server
import pytest
from argocd_webhook import Refused, parse, refreshed
from collection_defaults import pinned_versions
from gitea_server import ADMIN, DOMAIN
from wheel_files import make_wheel

# COMMON, GITEA_PLAY: the harness of tests/playbooks/test_service_roles_against_doubles.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "playbooks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "plugins"))

from service_doubles import DroneDouble, GiteaDouble
from test_service_roles_against_doubles import COMMON, GITEA_PLAY, write_credential

REPO = Path(__file__).resolve().parents[2]
ORG = "gauntlet"
OWNER = "gauntlet-packages"  # gauntlet_pypi_owner
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")
CONFIGURE_START = "configure | Accounts of Argo CD and of the CI"
# The role's main.yml runs configure.yml then packages.yml; the harness does the same (the
# play of test_service_roles_against_doubles.py, with the package index's password), then
# evaluates the drone role's pipeline secret pip_index_url from what the gitea role wrote.
PLAY = (
    GITEA_PLAY.replace(
        "Harness for the gitea role's configure tasks", "Harness for the gitea role's configure and package tasks"
    ).replace(
        "  roles:\n",
        "    __gitea_packages_password: \"{{ lookup('gauntlet.platform.credential', 'gitea/packages-password',"
        ' dir=gauntlet_credentials_dir) }}"\n  roles:\n',
    )
    + """
    - name: The role's package index tasks
      ansible.builtin.import_role:
        name: gauntlet.platform.gitea
        tasks_from: packages.yml

    - name: The drone role's defaults and internals
      ansible.builtin.include_vars:
        file: "{{ gitea_item }}"
      loop: ["REPO/roles/drone/defaults/main.yml", "REPO/roles/drone/vars/main.yml"]
      loop_control:
        loop_var: gitea_item

    - name: The pipeline secret pip_index_url as the drone role builds it
      ansible.builtin.copy:
        content: "{{ __drone_secret_values.pip_index_url }}"
        dest: "{{ pip_index_url_file }}"
        mode: "0600"
      no_log: true
"""
).replace("REPO/", f"{REPO}/")


class Receiver:
    """Argo CD's webhook endpoint stand-in: an HTTP server on the namespace's 127.0.0.1 that records
    every request (method, path, headers, body) and answers 200."""

    def __init__(self, netns):
        self.requests: list[tuple[str, str, dict, bytes]] = []
        seen = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append((self.command, self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        # The socket is made on the namespace's thread, so it listens on the namespace's loopback.
        self.httpd = netns.call(http.server.ThreadingHTTPServer, ("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/webhook"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Real:
    def __init__(self, server, netns, receiver, workdir):
        self.server, self.netns, self.receiver = server, netns, receiver
        self.credentials = workdir / "credentials"
        write_credential(self.credentials, "gitea/admin-password", server.admin_password)
        self.extra = {
            **COMMON,
            "gauntlet_credentials_dir": str(self.credentials),
            "__gitea_url": server.url,
            "gitea_ca_path": str(server.ca),
            "gitea_source_dir": str(REPO),
            "gitea_argocd_webhook_url": receiver.url,
        }
        self.workdir = workdir

    def play(self, text: str, extra: dict, start_at: str, *options: str):
        playbook = self.workdir / "harness.yml"
        playbook.write_text(text)
        command = [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", str(playbook), "-e", json.dumps(extra)]
        if start_at:
            command += ["--start-at-task", start_at]
        done = subprocess.run(
            self.netns.command(*command, *options), capture_output=True, text=True, cwd=REPO, check=False, timeout=600,
            env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        recap = done.stdout.split("PLAY RECAP")[-1]
        changed = int(recap.split("changed=")[1].split()[0]) if "changed=" in recap else -1
        return done, changed

    def api(self, method: str, path: str, auth=None, body=None):
        response = self.server.request(method, f"/api/v1{path}", auth=auth or (ADMIN, self.server.admin_password),
                                       body=body)  # fmt: skip
        return response.status, (response.json() if response.text().strip() else None)

    def credential(self, name: str) -> str:
        return (self.credentials / name).read_text().strip()

    def run(self, *argv: str, env: dict | None = None, timeout: int = 300):
        return subprocess.run(self.netns.command(*argv), capture_output=True, text=True, check=False,
                              env=env or dict(os.environ), timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    server, netns, workdir = gitea_server.start("gauntlet-gitea-real")
    receiver = None
    try:
        receiver = Receiver(netns)
        yield Real(server, netns, receiver, tmp_path_factory.mktemp("gitea-real"))
    finally:
        if receiver is not None:
            receiver.close()
        gitea_server.stop(server, netns, workdir)


@pytest.fixture(scope="module")
def configured(real):
    """The role's configure and package tasks, run once against the real server with a bundle of two
    wheels (the tests below build on it): (stdout, changed, the lock's wheel entries)."""
    bundle = real.workdir / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    wheels = [
        make_wheel(bundle / "wheels", "gauntlet-demo.lib", "0.3.1"),
        make_wheel(bundle / "wheels", "gauntlet_demo_app", "1.2.0", requires=("gauntlet-demo.lib==0.3.1",)),
    ]
    (bundle / "bundle.lock.json").write_text(json.dumps({"version": 1, "images": [], "files": [], "wheels": wheels}))
    real.extra.update(
        gauntlet_bundle_dir=str(bundle),
        pip_index_url_file=str(real.workdir / "pip-index-url"),
        # gauntlet_pypi_index_url of the platform (https://gitea.local/api/packages/<owner>/pypi/simple/)
        # with the test server's port: the drone role's drone_pip_index_url.
        gauntlet_pypi_index_url=f"{real.server.url}/api/packages/{OWNER}/pypi/simple/",
    )
    done, changed = real.play(PLAY, real.extra, CONFIGURE_START)
    return done.stdout, changed, wheels


def test_the_real_server_is_the_pinned_release_without_frontend_and_serves_the_api(real):
    pinned = pinned_versions()
    status, version = real.api("GET", "/version")
    assert status == 200 and version == {"version": pinned["gitea"]}
    # Built without the frontend (no bindata): the web pages come from the templates copied next to
    # the binary (STATIC_ROOT_PATH), so the login form Drone's OAuth2 flow goes through is served.
    login = real.server.request("GET", "/user/login")
    assert login.status == 200 and 'name="user_name"' in login.text() and 'action="/user/login"' in login.text()
    # REQUIRE_SIGNIN_VIEW (the role's app.ini): nothing for anonymous callers (403, routers/api/v1/api.go
    # verifyAuthWithOptions), 401 for wrong credentials (apiAuth); the double answers the same.
    from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import HttpClient, basic_auth

    def answers(get):
        anonymous, wrong = get(None), get(basic_auth(ADMIN, "not-the-password"))
        return [(r.status, (r.json() or {}).get("message")) for r in (anonymous, wrong)]

    got = answers(lambda headers: real.server.request("GET", "/api/v1/user", auth=None) if headers is None else
                  real.netns.call(HttpClient(ca_path=str(real.server.ca), resolve={DOMAIN: "127.0.0.1"}).request,
                                  "GET", f"{real.server.url}/api/v1/user", headers=headers))  # fmt: skip
    assert got[0] == (403, "Only signed in user is allowed to call APIs.")
    assert got[1][0] == 401
    double = GiteaDouble(ADMIN, "the-password-0123456789")
    try:
        assert answers(lambda headers: HttpClient().request("GET", f"{double.url}/api/v1/user", headers=headers)) == got
    finally:
        double.close()


def test_configure_creates_everything_then_changes_nothing(real, configured):
    out, changed, wheels = configured
    # configure.yml 8 (as against the double), packages.yml 3 (account, token, upload), the pip_index_url file 1.
    assert changed == 12, out[-3000:]
    for user in ("argocd", "gauntlet-ci", "drone-clone", "gitops-bump"):
        status, found = real.api("GET", f"/users/{user}")
        assert status == 200 and found["login"] == user
    # The accounts log in with their credential files.
    assert real.api("GET", "/user", auth=("argocd", real.credential("gitea/argocd-password")))[0] == 200
    status, org = real.api("GET", f"/orgs/{ORG}")
    assert status == 200 and org["visibility"] == "private"
    for repo, collaborators in (
        ("task-api", {"gauntlet-ci": "admin", "drone-clone": "read"}),
        ("gitops", {"argocd": "read", "gitops-bump": "write"}),
    ):
        status, meta = real.api("GET", f"/repos/{ORG}/{repo}")
        assert status == 200 and meta["private"] is True and meta["default_branch"] == "main", meta
        for user, permission in collaborators.items():
            status, answer = real.api("GET", f"/repos/{ORG}/{repo}/collaborators/{user}/permission")
            assert status == 200 and answer["permission"] == permission, (repo, user, answer)
    # main of both: push only by the named accounts, never a force push.
    for repo, pushers in (("task-api", ["gauntlet-admin"]), ("gitops", ["gauntlet-admin", "gitops-bump"])):
        status, rule = real.api("GET", f"/repos/{ORG}/{repo}/branch_protections/main")
        assert status == 200, rule
        assert rule["enable_push"] is True and rule["enable_push_whitelist"] is True, rule
        assert sorted(rule["push_whitelist_usernames"]) == pushers, rule
        assert rule["enable_force_push"] is False and rule["push_whitelist_deploy_keys"] is False, rule
    # This checkout published: task-api keeps its layout, gitops gets gitops/ at its root.
    status, raw = real.api("GET", f"/repos/{ORG}/gitops/contents/task-api/kustomization.yaml?ref=main")
    assert status == 200
    import base64

    assert base64.b64decode(raw["content"]).decode() == (REPO / "gitops/task-api/kustomization.yaml").read_text()
    assert real.api("GET", f"/repos/{ORG}/task-api/contents/apps/task-api/.drone.yml?ref=main")[0] == 200
    # Tokens: scopes as asked, values in the credential files (they work as passwords).
    for user, password_credential, name, scopes, credential in (
        ("gitops-bump", "gitea/gitops-password", "drone-gitops", ["write:repository"], "gitea/ci-token"),
        ("drone-clone", "gitea/clone-password", "drone-clone", ["read:repository"], "gitea/clone-token"),
    ):
        password = real.credential(password_credential)
        status, tokens = real.api("GET", f"/users/{user}/tokens", auth=(user, password))
        assert status == 200 and [(t["name"], t["scopes"]) for t in tokens] == [(name, scopes)], tokens
        assert real.credential(credential).endswith(tokens[0]["token_last_eight"])
    # Drone's OAuth2 application, its secret in the credential file.
    status, apps = real.api("GET", "/user/applications/oauth2")
    assert status == 200 and [(a["name"], a["redirect_uris"], a["confidential_client"]) for a in apps] == [
        ("drone", ["https://drone.local/login"], True)
    ]
    assert real.credential("drone/gitea-client-id") == apps[0]["client_id"]
    # The webhook of gitops to "Argo CD" (the receiver), as gitea_webhook asked for it.
    status, hooks = real.api("GET", f"/repos/{ORG}/gitops/hooks")
    assert status == 200 and len(hooks) == 1, hooks
    hook = hooks[0]
    assert (hook["type"], hook["config"]["url"], hook["config"]["content_type"]) == ("gitea", real.receiver.url, "json")
    assert (hook["events"], hook["branch_filter"], hook["active"]) == (["push"], "main", True), hook
    assert "secret" not in hook["config"]  # Gitea never returns it (services/webhook/general.go ToHook)
    assert real.server.admin_password not in out and real.credential("drone/gitea-client-secret") not in out
    # The package index: the owner's read:package token, both wheels with the lock's sha256.
    password = real.credential("gitea/packages-password")
    status, tokens = real.api("GET", f"/users/{OWNER}/tokens", auth=(OWNER, password))
    assert status == 200 and [(t["name"], t["scopes"]) for t in tokens] == [("pip-index", ["read:package"])]
    assert real.credential("gitea/pip-token").endswith(tokens[0]["token_last_eight"])
    for entry in wheels:
        project = entry["name"].replace(".", "-").replace("_", "-")
        status, files = real.api("GET", f"/packages/{OWNER}/pypi/{project}/{entry['version']}/files",
                                 auth=(OWNER, password))  # fmt: skip
        assert status == 200 and [(f["name"], f["sha256"]) for f in files] == [(entry["filename"], entry["sha256"])]
    assert password not in out

    done, changed = real.play(PLAY, real.extra, CONFIGURE_START, "--check")
    assert changed == 0, done.stdout[-3000:]
    done, changed = real.play(PLAY, real.extra, CONFIGURE_START)
    assert changed == 0, done.stdout[-3000:]
    assert "'uploaded': []" in done.stdout.replace('"', "'"), done.stdout[-3000:]


def git_env(real, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, "GIT_SSL_CAINFO": str(real.server.ca), "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(real.workdir), **(extra or {})}  # fmt: skip


def test_the_clone_token_clones_task_api_and_nothing_else(real, configured, tmp_path):
    token = real.credential("gitea/clone-token")
    base = real.server.url.replace("://", f"://drone-clone:{token}@")
    env = git_env(real)
    done = real.run("git", "clone", "-q", f"{base}/{ORG}/task-api.git", str(tmp_path / "clone"), env=env)
    assert done.returncode == 0, done.stderr
    assert real.run("git", "clone", "-q", f"{base}/{ORG}/gitops.git", str(tmp_path / "gitops"), env=env).returncode
    work = str(tmp_path / "clone")
    real.run("git", "-C", work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty",
             "-m", "x", env=env)  # fmt: skip
    assert real.run("git", "-C", work, "push", "-q", "origin", "HEAD:refs/heads/attack", env=env).returncode != 0


def test_a_gitops_push_reaches_argo_cd_signed_as_its_gogs_check_wants(real, configured, tmp_path):
    """gitops-bump pushes a tag bump with its token (the promoter's way); real Gitea delivers the
    push notice to the receiver; Argo CD's check (tests/argocd_webhook.py) accepts it with the
    secret the role generated and refuses it with another; the Application is refreshed."""
    token = real.credential("gitea/ci-token")
    base = real.server.url.replace("://", f"://gitops-bump:{token}@")
    env = git_env(real)
    work = str(tmp_path / "gitops")
    assert real.run("git", "clone", "-q", f"{base}/{ORG}/gitops.git", work, env=env).returncode == 0
    path = Path(work) / "task-api" / "kustomization.yaml"
    path.write_text(path.read_text() + "# bumped by the test\n")
    ident = ["-c", "user.name=gitops-bump", "-c", "user.email=gitops-bump@gitea.local"]
    assert real.run("git", "-C", work, *ident, "commit", "-qam", "bump", env=env).returncode == 0
    before = len(real.receiver.requests)
    pushed = real.run("git", "-C", work, "push", "-q", "origin", "HEAD:main", env=env)
    assert pushed.returncode == 0, pushed.stderr
    head = real.run("git", "-C", work, "rev-parse", "HEAD", env=env).stdout.strip()
    deadline = time.monotonic() + 30
    while len(real.receiver.requests) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(real.receiver.requests) == before + 1, "Gitea delivered no push notice within 30 s"
    method, url_path, headers, body = real.receiver.requests[-1]
    secret = real.credential("argocd/gitea-webhook-secret")
    payload = parse(method, url_path, headers, body, secret)
    assert payload["ref"] == "refs/heads/main" and payload["after"] == head
    assert payload["repository"]["html_url"] == f"{real.server.url}/{ORG}/gitops"
    assert payload["commits"][0]["modified"] == ["task-api/kustomization.yaml"]
    # The argocd role's Application (argocd_gitops_repo_url https://gitea.local/gauntlet/gitops.git,
    # targetRevision HEAD): Argo CD's URL match ignores the port and .git.
    application = {"metadata": {"name": "task-api"},
                   "spec": {"source": {"repoURL": f"https://{DOMAIN}/{ORG}/gitops.git", "targetRevision": "HEAD"}}}  # fmt: skip
    assert refreshed(payload, [application]) == ["task-api"]
    with pytest.raises(Refused) as wrong:
        parse(method, url_path, headers, body, secret + "x")
    assert wrong.value.status == 401
    assert headers["X-Gitea-Signature"] == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    # The double's deliveries (service_doubles.GiteaDouble.push_delivery) carry the same signed
    # headers as the real server's.
    double = GiteaDouble("a", "b")
    try:
        double.repos[(ORG, "gitops")] = {"default_branch": "main"}
        double.hooks[(ORG, "gitops")] = {1: {"type": "gitea", "url": real.receiver.url, "content_type": "json",
                                             "secret": secret, "events": ["push"], "branch_filter": "main",
                                             "active": True}}  # fmt: skip
        double.root_url = f"{real.server.url}/"
        ((_url, double_headers, double_body),) = double.push_delivery(
            ORG, "gitops", "main", head, ["task-api/kustomization.yaml"]
        )
    finally:
        double.close()

    # Every field of the double's payload is in the real one, with the same value (but "before":
    # the double has no history).
    def fields(value, prefix=""):
        if isinstance(value, dict):
            return {k: v for key, item in value.items() for k, v in fields(item, f"{prefix}.{key}").items()}
        if isinstance(value, list):
            return {k: v for n, item in enumerate(value) for k, v in fields(item, f"{prefix}[{n}]").items()}
        return {prefix: value}

    real_fields = fields(payload)
    for key, value in fields(json.loads(double_body)).items():
        assert key in real_fields, f"the double sends {key}, the real server does not"
        assert key == ".before" or real_fields[key] == value, (key, value, real_fields[key])

    def webhook_headers(found):
        # Names, and the values that do not depend on the body or the delivery (event, type, target).
        named = {k.lower(): v for k, v in found.items() if k.lower().startswith("x-")}
        return {k: (v if not k.endswith(("delivery", "signature", "signature-256")) else "*") for k, v in named.items()}

    assert webhook_headers(double_headers) == webhook_headers(headers)


def pip_install(real, index_url: str, lock: Path, target: Path, ca: Path | None):
    # As in a build pod (python image): no pip settings and no CA bundle variables, which
    # requests would prefer over PIP_CERT; the pipeline's flags (apps/task-api/.drone.yml).
    dropped = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k not in dropped}
    env.update(PIP_INDEX_URL=index_url, PIP_CONFIG_FILE=os.devnull, PIP_NO_CACHE_DIR="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_RETRIES="0", PIP_TIMEOUT="10")  # fmt: skip
    if ca is not None:
        env["PIP_CERT"] = str(ca)
    return real.run(sys.executable, "-m", "pip", "install", "--only-binary=:all:", "--require-hashes", "--no-compile",
                    "--target", str(target), "-r", str(lock), env=env)  # fmt: skip


def test_pip_installs_the_lock_from_the_index_over_tls_with_the_drone_secret(real, configured, tmp_path):
    """pip as the pipeline runs it: the lock with hashes, wheels only, the index URL of the pipeline
    secret pip_index_url (built by the drone role in the harness, the read:package token as the
    password), trusting Gitea's CA through PIP_CERT."""
    _out, _changed, wheels = configured
    index = (real.workdir / "pip-index-url").read_text()
    token = real.credential("gitea/pip-token")
    assert index == f"https://{OWNER}:{token}@{DOMAIN}:{real.server.port}/api/packages/{OWNER}/pypi/simple/"
    lock = tmp_path / "requirements.lock"
    lock.write_text("".join(f"{e['name']}=={e['version']} --hash=sha256:{e['sha256']}\n" for e in wheels))
    installed = pip_install(real, index, lock, tmp_path / "site", real.server.ca)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    assert (tmp_path / "site/gauntlet_demo_app/__init__.py").read_text().startswith("VERSION = '1.2.0'")
    assert (tmp_path / "site/gauntlet_demo_lib/__init__.py").is_file()
    # Without the CA pip does not trust the index: PIP_CERT is what makes it work.
    untrusted = pip_install(real, index, lock, tmp_path / "site2", None)
    assert untrusted.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout + untrusted.stderr
    # A token of the same owner without read:package reads no package (same URL, other token).
    password = real.credential("gitea/packages-password")
    status, other = real.api("POST", f"/users/{OWNER}/tokens", auth=(OWNER, password),
                             body={"name": "no-packages", "scopes": ["read:repository"]})  # fmt: skip
    assert status == 201, other
    denied = pip_install(real, index.replace(token, other["sha1"]), lock, tmp_path / "site3", real.server.ca)
    assert denied.returncode != 0 and not (tmp_path / "site3").exists()
    assert "401" in denied.stdout + denied.stderr or "403" in denied.stdout + denied.stderr, denied.stderr[-2000:]


def test_gitea_pypi_files_keeps_refuses_and_names_the_file_against_the_real_registry(real, configured, tmp_path):
    """The module itself (as the unit tests run it against the double), in the namespace, through its
    ``resolve`` option: the index's files kept; another build of a file the index has is an error
    naming it, before any upload; an upload of a file the index has meanwhile, the race the module
    reports; an account that does not own the registry, refused."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_pypi import (
        PypiError,
        PypiIndex,
        wheel_metadata,
    )
    from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError, HttpClient
    from ansible_collections.gauntlet.platform.plugins.modules import gitea_pypi_files

    _out, _changed, wheels = configured
    folder = real.workdir / "bundle" / "wheels"
    password = real.credential("gitea/packages-password")

    def params(directory, entries, username=OWNER, secret=password):
        return {"url": f"https://{DOMAIN}:{real.server.port}", "username": username, "password": secret,
                "ca_path": str(real.server.ca), "timeout": 30, "resolve": {DOMAIN: "127.0.0.1"}, "owner": OWNER,
                "directory": str(directory), "wheels": entries}  # fmt: skip

    def run(*args, **kwargs):
        return real.netns.call(gitea_pypi_files.run, *args, **kwargs)

    assert run(params(folder, wheels)) == {"changed": False, "uploaded": [], "kept": [e["filename"] for e in wheels]}
    # Another build of the same version (same filename, other bytes) and a new project: nothing uploaded.
    other = tmp_path / "other"
    other.mkdir()
    rebuilt = [make_wheel(other, "gauntlet-demo-new", "0.1.0"),
               make_wheel(other, "gauntlet-demo.lib", "0.3.1", body="CHANGED = True\n")]  # fmt: skip
    with pytest.raises(PypiError, match=r"gauntlet_demo_lib-0\.3\.1-py3-none-any\.whl: the index has it with sha256"):
        run(params(other, rebuilt))
    assert real.api("GET", f"/packages/{OWNER}/pypi/gauntlet-demo-new/0.1.0", auth=(OWNER, password))[0] == 404
    # The upload of a file the index already has (it appeared between the read and the upload).
    http = HttpClient(ca_path=str(real.server.ca), timeout=30, resolve={DOMAIN: "127.0.0.1"})
    index = PypiIndex(http, f"https://{DOMAIN}:{real.server.port}", OWNER, OWNER, password)
    path = str(folder / wheels[0]["filename"])
    with pytest.raises(PypiError, match=r"Gitea already has this file \(it appeared while uploading\); run again"):
        real.netns.call(index.upload, path, wheels[0], wheel_metadata(path))
    # Argo CD's account owns no registry: it is told so, and nothing is uploaded.
    with pytest.raises(ApiError, match=r"refused 'argocd' \(40[13]\); the account must own the packages"):
        run(params(other, rebuilt[:1], username="argocd", secret=real.credential("gitea/argocd-password")))
    assert real.api("GET", f"/packages/{OWNER}/pypi/gauntlet-demo-new/0.1.0", auth=(OWNER, password))[0] == 404


def test_the_doubles_pypi_pages_match_the_real_ones(real, configured):
    """The PEP 503 project page of each uploaded project: the double's links (path under the
    registry, sha256 fragment, data-requires-python) are the real server's."""
    from html.parser import HTMLParser

    from ansible_collections.gauntlet.platform.plugins.modules import gitea_pypi_files

    class Links(HTMLParser):
        def __init__(self, registry):
            super().__init__()
            self.registry, self.links = registry, []

        def handle_starttag(self, tag, attrs):
            if tag == "a":
                found = dict(attrs)
                self.links.append((found["href"].removeprefix(self.registry), found.get("data-requires-python")))

    _out, _changed, wheels = configured
    password = real.credential("gitea/packages-password")
    double = GiteaDouble(ADMIN, "the-password-0123456789")
    try:
        double.add_user(OWNER, password)
        gitea_pypi_files.run({"url": double.url, "username": OWNER, "password": password, "ca_path": None,
                              "timeout": 10, "resolve": {}, "owner": OWNER,
                              "directory": str(real.workdir / "bundle" / "wheels"), "wheels": wheels})  # fmt: skip
        from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import (
            HttpClient,
            basic_auth,
        )

        for project in ("gauntlet-demo-lib", "gauntlet-demo-app"):
            path = f"/api/packages/{OWNER}/pypi/simple/{project}/"
            real_page = real.server.request("GET", path, auth=(OWNER, password))
            double_page = HttpClient().request("GET", double.url + path, headers=basic_auth(OWNER, password))
            assert real_page.status == double_page.status == 200
            pages = []
            for page, base in ((real_page, real.server.url), (double_page, double.url)):
                reader = Links(f"{base}/api/packages/{OWNER}/pypi")
                reader.feed(page.text())
                pages.append(reader.links)
            assert pages[0] == pages[1] and len(pages[0]) == 1, pages
    finally:
        double.close()


class _RealGiteaForDrone:
    """What DroneDouble asks of its Gitea (``url``, ``exchange``), answered by the real server: the
    code exchange Drone's go-login makes (POST /login/oauth/access_token, then GET /api/v1/user with
    the access token), from a second thread inside the namespace (the first one runs the module)."""

    def __init__(self, real):
        import concurrent.futures

        import controlplane

        self.real = real
        self.url = real.server.url
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, initializer=controlplane._enter_netns, initargs=(real.netns._fd,)
        )

    def exchange(self, code, client_id, client_secret):
        from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import HttpClient

        def ask():
            http = HttpClient(ca_path=str(self.real.server.ca), resolve={DOMAIN: "127.0.0.1"})
            form = {"grant_type": "authorization_code", "code": code, "client_id": client_id,
                    "client_secret": client_secret, "redirect_uri": self.redirect_uri}  # fmt: skip
            token = http.request("POST", f"{self.url}/login/oauth/access_token", form=form)
            if token.status != 200:
                return None
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            user = http.request("GET", f"{self.url}/api/v1/user", headers=bearer)
            return user.json()["login"] if user.status == 200 else None

        return self._thread.submit(ask).result()

    def close(self):
        self._thread.shutdown()


def test_drone_links_the_ci_account_through_the_real_gitea_login_and_oauth2_grant(real, configured):
    """drone_api.link_account (drone_repo's first step) against the real Gitea's web login form,
    authorize endpoint and grant page; Drone is the double, its code exchange goes to the real
    token endpoint. Gitea 1.27's pages carry no _csrf field (routers/web/web.go: Go's
    http.CrossOriginProtection instead), which the double's pages now follow."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.services.drone_api import link_account
    from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import HttpClient, html_forms

    gitea = _RealGiteaForDrone(real)
    drone = None
    try:
        drone = real.netns.call(DroneDouble, gitea)
        gitea.redirect_uri = f"{drone.url}/login"
        status, app = real.api("POST", "/user/applications/oauth2",
                               body={"name": "drone-test", "redirect_uris": [gitea.redirect_uri],
                                     "confidential_client": True})  # fmt: skip
        assert status == 201, app
        drone.client_id, drone.client_secret = app["client_id"], app["client_secret"]
        password = real.credential("gitea/ci-password")

        # The pages the module reads, real and double: the same forms and fields.
        def pages(base, client_id, redirect_uri, call):
            http = HttpClient(ca_path=str(real.server.ca), resolve={DOMAIN: "127.0.0.1"})
            login = call(http.request, "GET", f"{base}/user/login")
            (form,) = [f for f in html_forms(login.text()) if "user_name" in f["fields"]]
            fields = {**form["fields"], "user_name": "gauntlet-ci", "password": password}
            fields.pop("remember", None)
            signed_in = call(http.request, "POST", f"{base}/user/login", form=fields,
                             headers={"Origin": base, "Referer": f"{base}/user/login"})  # fmt: skip
            query = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "state": "s"}
            consent = call(http.request, "GET", f"{base}/login/oauth/authorize?{urllib.parse.urlencode(query)}")
            (grant,) = [f for f in html_forms(consent.text()) if "/login/oauth/grant" in f["action"]]
            return (sorted(form["fields"]), signed_in.status, consent.status, sorted(grant["fields"]))

        got = pages(f"https://{DOMAIN}:{real.server.port}", app["client_id"], gitea.redirect_uri, real.netns.call)
        double = GiteaDouble(ADMIN, "the-password-0123456789")
        try:
            double.add_user("gauntlet-ci", password)
            double.apps[1] = {"name": "drone", "client_id": "cid", "client_secret": "cs", "confidential_client": True,
                              "redirect_uris": ["http://drone.test/login"]}  # fmt: skip
            assert pages(double.url, "cid", "http://drone.test/login", lambda f, *a, **k: f(*a, **k)) == got
        finally:
            double.close()
        real.netns.call(link_account, drone.url, f"https://{DOMAIN}:{real.server.port}", "gauntlet-ci", password,
                        ca_path=str(real.server.ca), resolve={DOMAIN: "127.0.0.1"})  # fmt: skip
        assert drone.users["gauntlet-ci"]["scm_linked"] is True
        # The grant is remembered: a second login goes through without the consent page.
        drone.users["gauntlet-ci"]["scm_linked"] = False
        real.netns.call(link_account, drone.url, f"https://{DOMAIN}:{real.server.port}", "gauntlet-ci", password,
                        ca_path=str(real.server.ca), resolve={DOMAIN: "127.0.0.1"})  # fmt: skip
        assert drone.users["gauntlet-ci"]["scm_linked"] is True
    finally:
        if drone is not None:
            drone.close()
        gitea.close()


# -- The gitops promotion (roles/drone/files/gitops_promote.py, CronJob drone-gitops-promote) -------------

PROMOTE_SCRIPT = REPO / "roles" / "drone" / "files" / "gitops_promote.py"
NOTIFY_TOKEN = "registry-notification-token"  # the registry's bearer token for its notifications (test value)


def _load(name: str, path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def promote_container(overrides: dict) -> dict:
    """The CronJob's container (image, command, env) as the drone role renders it: the ``promote``
    container of roles/drone/templates/objects.yml.j2, templated by Ansible with the collection's
    defaults (role gauntlet), the sample inventory's group_vars, the role's defaults and vars, and ``overrides`` (the test's addresses
    and folders)."""
    import yaml
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    def trusted(value):  # the role's files are templates, as Ansible treats them
        if isinstance(value, str):
            return trust_as_template(value)
        if isinstance(value, dict):
            return {key: trusted(item) for key, item in value.items()}
        if isinstance(value, list):
            return [trusted(item) for item in value]
        return value

    loader, variables = DataLoader(), {}
    for path in [*sorted((REPO / "roles/gauntlet/defaults/main").glob("*.yml")),
                 *sorted((REPO / "inventory/sample/group_vars/all").glob("*.yml")),
                 REPO / "roles/drone/defaults/main.yml", REPO / "roles/drone/vars/main.yml"]:  # fmt: skip
        variables.update(loader.load_from_file(str(path)) or {})
    variables = {**trusted(variables), **overrides}
    text = (REPO / "roles/drone/templates/objects.yml.j2").read_text()
    start = text.index("            - name: promote\n")
    snippet = text[start : text.index("              securityContext:", start)]
    (container,) = yaml.safe_load(Templar(loader=loader, variables=variables).template(trust_as_template(snippet)))
    return container


class PushRecordServer:
    """The registry token server (roles/registry/files/registry_token_server.py, its own code: load_config,
    serve, serve_all) on the namespace's loopback, configured as the registry role configures it
    (token-config.json: the sample inventory's accounts with the registry role's access rules, TLS on
    the main listener, the push record of ``gauntlet/*`` fed by the notification listener). What the
    registry would post to it after a manifest push, ``notify`` posts: distribution's envelope
    (tests/unit/roles/test_gitops_promote.py push_event) with the registry's bearer token."""

    def __init__(self, real, folder: Path):
        from ansible_collections.gauntlet.platform.plugins.filter.registry_token_accounts import registry_token_accounts
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from tls_material import make_ca_and_cert

        self.real, self.server = (
            real,
            _load("registry_token_server_real", REPO / "roles/registry/files/registry_token_server.py"),
        )
        folder.mkdir()
        signer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (folder / "signer.key").write_bytes(signer.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.TraditionalOpenSSL,
                                            serialization.NoEncryption()))  # fmt: skip
        # The registry's certificate names registry.local (local_domains_services.registry).
        self.ca, cert, key = make_ca_and_cert(folder, dns_names=("registry.local",))
        self.node_password = "node-password-for-the-push-record"
        rules = [{"name": "gauntlet-node", "access": [{"type": "repository", "name": "*", "actions": ["pull"]}]},
                 {"name": "gauntlet-ci", "access": [{"type": "repository", "name": "*", "actions": ["pull"]},
                                                    {"type": "repository", "name": "gauntlet/*",
                                                     "actions": ["pull", "push"]}]}]  # fmt: skip
        config = {
            "service": "gauntlet-registry", "issuer": "gauntlet-registry-token", "listen": "127.0.0.1:0",
            "lifetime": 300, "signing_key": str(folder / "signer.key"), "signing_certificate": str(cert),
            "tls": {"certificate": str(cert), "key": str(key)},
            "accounts": registry_token_accounts(rules, {"gauntlet-node": self.node_password, "gauntlet-ci": "ci-pw"},
                                                {"gauntlet-node": "s1", "gauntlet-ci": "s2"}),
            "pushes": {"listen": "127.0.0.1:0", "token_sha256": hashlib.sha256(NOTIFY_TOKEN.encode()).hexdigest(),
                       "store": str(folder / "pushes.jsonl"), "repositories": ["gauntlet/*"]},
        }  # fmt: skip
        (folder / "config.json").write_text(json.dumps(config))
        self.httpd = real.netns.call(self.server.serve, self.server.load_config(str(folder / "config.json")))
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_all, args=(self.httpd,), daemon=True)
        self.thread.start()

    def notify(self, *events):
        import urllib.request

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.httpd.events.server_address[1]}/events",
            data=json.dumps({"events": list(events)}).encode(), method="POST",
            headers={"Content-Type": "application/vnd.docker.distribution.events.v2+json",
                     "Authorization": f"Bearer {NOTIFY_TOKEN}"},
        )  # fmt: skip

        def post():
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the namespace's loopback
                return response.status

        assert self.real.netns.call(post) == 200

    def close(self):
        for httpd in (self.httpd.events, self.httpd):
            httpd.shutdown()
            httpd.server_close()


class Promotion:
    """The CronJob drone-gitops-promote's run against the real Gitea: its container's command and
    environment rendered from the drone role's template, its Secret's files holding the credentials
    the gitea role wrote (gitea/ci-token of gitops-bump, gitea/clone-token of drone-clone) and the
    nodes' registry password, PUSHES_CA_FILE the registry certificate's CA (ConfigMap
    gauntlet-local-ca); the push record is the registry token server's (PushRecordServer)."""

    def __init__(self, real, folder: Path):
        from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import HttpClient
        from keycloak_server import hosts_file

        self.real = real
        self.push_event = _load("gitops_promote_unit", REPO / "tests/unit/roles/test_gitops_promote.py").push_event
        self.promoter = _load("gitops_promote_script", PROMOTE_SCRIPT)
        self.http = HttpClient(ca_path=str(real.server.ca), timeout=30, resolve={DOMAIN: "127.0.0.1"})
        # registry.local (local_domains_services.registry) is the namespace's loopback too.
        hosts_file(real.netns.name, (DOMAIN, "registry.local"))
        self.record = PushRecordServer(real, folder / "registry-token")
        self.tokens, local_ca = folder / "tokens", folder / "local-ca"
        self.tokens.mkdir()
        local_ca.mkdir()
        (self.tokens / "gitops-token").write_text(real.credential("gitea/ci-token"))
        (self.tokens / "source-token").write_text(real.credential("gitea/clone-token"))
        (self.tokens / "registry-password").write_text(self.record.node_password)
        (local_ca / "ca.crt").write_text(self.record.ca.read_text())
        pushes_url = next(e["value"] for e in promote_container({})["env"] if e["name"] == "PUSHES_URL")
        assert pushes_url == "https://registry.local:5002/pushes"  # port: the registry role's registry_token_port
        self.container = promote_container({
            "drone_gitea_internal_url": real.server.url + "/",
            "drone_promote_pushes_url": pushes_url.replace(":5002/", f":{self.record.port}/"),
            "__drone_promote_script_dir": str(PROMOTE_SCRIPT.parent),
            "__drone_promote_token_dir": str(self.tokens),
            "__drone_promote_ca_dir": str(local_ca),
        })  # fmt: skip
        assert self.container["command"] == ["python3", str(PROMOTE_SCRIPT)]
        self.env = {e["name"]: e["value"] for e in self.container["env"]}
        # The Pod reaches Gitea over plain HTTP in the cluster (gauntlet_gitea_internal_url); this Gitea
        # serves HTTPS with its own test CA, which the script's default context trusts through OpenSSL's
        # SSL_CERT_FILE (not set in the Pod).
        self.env.update(PATH=os.environ["PATH"], SSL_CERT_FILE=str(real.server.ca))
        self.source, self.gitops, self.path = self.env["SOURCE_REPO"], self.env["GITOPS_REPO"], self.env["GITOPS_PATH"]
        assert (self.source, self.gitops, self.path) == (
            f"{ORG}/task-api",
            f"{ORG}/gitops",
            "task-api/kustomization.yaml",
        )
        # Drone posts its commit statuses as the account that activated the repository (gauntlet-ci),
        # with its OAuth2 grant; here with a token of that account.
        scopes = {"name": "drone-status", "scopes": ["write:repository"]}
        status, token = real.api("POST", "/users/gauntlet-ci/tokens", body=scopes,
                                 auth=("gauntlet-ci", real.credential("gitea/ci-password")))  # fmt: skip
        assert status == 201, token
        self.ci_token = token["sha1"]
        # A shallow clone of task-api: main moves only by a merge (a push by gauntlet-admin, the one
        # account its branch protection lets push).
        self.work = str(folder / "task-api")
        self.git_env = git_env(real)
        admin = real.server.url.replace("://", f"://{ADMIN}:{real.server.admin_password}@")
        done = real.run("git", "clone", "-q", "--depth", "1", f"{admin}/{self.source}.git", self.work, env=self.git_env)
        assert done.returncode == 0, done.stderr

    def run(self, **env):
        """One run of the CronJob's command: (exit code, stdout, stderr)."""
        done = self.real.run(sys.executable, *self.container["command"][1:], env={**self.env, **env}, timeout=60)
        return done.returncode, done.stdout, done.stderr

    def api(self, token: str, method: str, path: str, body=None):
        response = self.real.netns.call(self.http.request, method, f"{self.real.server.url}/api/v1{path}",
                                        json_body=body, headers={"Authorization": f"token {token}"})  # fmt: skip
        return response.status, (response.json() if response.text().strip() else None)

    def token(self, which: str) -> str:
        return (self.tokens / f"{which}-token").read_text().strip()

    def gitops_state(self) -> tuple[str, str]:
        """gitops main's head and the kustomization's text there."""
        import base64

        _status, branch = self.api(self.token("gitops"), "GET", f"/repos/{self.gitops}/branches/main")
        _status, found = self.api(self.token("gitops"), "GET", f"/repos/{self.gitops}/contents/{self.path}?ref=main")
        return branch["commit"]["id"], base64.b64decode(found["content"]).decode()

    def post_status(self, sha: str, state: str, context: str | None = None):
        """The commit status a Drone build posts (harness/drone v2.25.0 service/status: state, the
        build's link, a description, the context)."""
        body = {"state": state, "target_url": "https://drone.local/gauntlet/task-api/7",
                "description": f"Build is {state}", "context": context or self.env["STATUS_CONTEXT"]}  # fmt: skip
        status, answer = self.api(self.ci_token, "POST", f"/repos/{self.source}/statuses/{sha}", body=body)
        assert status == 201, answer

    def commit_and_push(self, message: str, ref: str, start: str | None = None) -> str:
        git = ("git", "-C", self.work, "-c", "user.name=Dev", "-c", "user.email=dev@gitea.local")
        if start:
            assert self.real.run(*git, "reset", "-q", "--hard", start, env=self.git_env).returncode == 0
        done = self.real.run(*git, "commit", "-q", "--allow-empty", "-m", message, env=self.git_env)
        assert done.returncode == 0, done.stderr
        pushed = self.real.run(*git, "push", "-q", "origin", f"HEAD:{ref}", env=self.git_env)
        assert pushed.returncode == 0, pushed.stderr
        return self.real.run(*git, "rev-parse", "HEAD", env=self.git_env).stdout.strip()

    def image_entry(self, text: str) -> dict:
        import yaml

        (entry,) = [i for i in yaml.safe_load(text)["images"] if i["name"] == self.env["REPOSITORY"]]
        return entry

    def close(self):
        from keycloak_server import hosts_file

        self.record.close()
        hosts_file(self.real.netns.name, (DOMAIN,))


@pytest.fixture(scope="module")
def promotion(real, configured, tmp_path_factory):
    found = Promotion(real, tmp_path_factory.mktemp("promotion"))
    try:
        yield found
    finally:
        found.close()


def test_the_gitops_promotion_bumps_the_real_gitops_repository_and_argo_cd_hears_it(real, promotion):
    """roles/drone/files/gitops_promote.py as the CronJob runs it (class Promotion) against the real
    Gitea: a commit merged to task-api main, the commit statuses Drone's builds post, the registry's
    push record of its tag. Deployed by digest once, then nothing; never a commit without a successful
    push status, a branch commit, or a tag pushed twice; the bump's push notice reaches "Argo CD" (the
    receiver) signed as its Gogs check wants."""
    p, env = promotion, promotion.env
    image, length = env["REPOSITORY"], p.promoter.TAG_LENGTH
    head0, text0 = p.gitops_state()
    deliveries = len(real.receiver.requests)

    # 1. Merged to main; Drone's push build runs (pending); a custom build of it succeeded (another
    # context): not deployed.
    sha = p.commit_and_push("task-api: the change to deploy", "refs/heads/main")
    tag = sha[:length]
    rc, out, err = p.run()  # no status at all yet
    assert rc == 0 and out.startswith(f"waiting: no successful {env['STATUS_CONTEXT']} status"), (out, err)
    p.post_status(sha, "pending")
    p.post_status(sha, "success", context="continuous-integration/drone")
    rc, out, err = p.run()
    assert rc == 0 and out.startswith(f"waiting: no successful {env['STATUS_CONTEXT']} status"), (out, err)
    # The push build succeeded; the registry has not recorded its push of the tag yet.
    p.post_status(sha, "success")
    rc, out, err = p.run()
    assert rc == 0 and out.startswith(f"waiting: no push of {image}:{tag}"), (out, err)
    assert p.gitops_state() == (head0, text0)

    # 2. Now it has: deployed by that push's digest, one commit by the bump account.
    digest = "sha256:" + hashlib.sha256(sha.encode()).hexdigest()
    p.record.notify(p.push_event(tag, digest, event_id=f"main-{sha}"))
    rc, out, err = p.run()
    assert (rc, out.strip()) == (0, f"deployed {image}:{tag}@{digest} via {p.gitops} {p.path}"), (out, err)
    head1, text1 = p.gitops_state()
    assert head1 != head0
    assert p.image_entry(text1) == {"name": image, "newTag": tag, "digest": digest}
    old_tag = p.image_entry(text0)["newTag"]
    assert text1.replace(f'"{tag}"\n', f'"{old_tag}"\n').replace(f'    digest: "{digest}"\n', "") == text0
    status, commit = p.api(p.token("gitops"), "GET", f"/repos/{p.gitops}/git/commits/{head1}")
    assert status == 200, commit
    message = f"task-api: deploy {image}:{tag}@{digest} ({p.source}@{sha}) [CI SKIP]"
    assert commit["commit"]["message"].strip() == message
    assert commit["author"]["login"] == commit["committer"]["login"] == "gitops-bump", commit
    assert commit["commit"]["author"]["name"] == "gitops-bump", commit["commit"]
    assert [c["sha"] for c in commit["parents"]] == [head0]
    assert [f["filename"] for f in commit["files"]] == [p.path], commit["files"]

    # The bump's push notice reaches Argo CD's webhook, signed with the secret the argocd role has.
    deadline = time.monotonic() + 30
    while len(real.receiver.requests) == deliveries and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(real.receiver.requests) == deliveries + 1, "Gitea delivered no push notice of the bump within 30 s"
    method, url_path, headers, body = real.receiver.requests[-1]
    payload = parse(method, url_path, headers, body, real.credential("argocd/gitea-webhook-secret"))
    assert (payload["ref"], payload["before"], payload["after"]) == ("refs/heads/main", head0, head1)
    assert [(c["modified"], c["message"].strip()) for c in payload["commits"]] == [([p.path], message)]
    application = {"metadata": {"name": "task-api"},
                   "spec": {"source": {"repoURL": f"https://{DOMAIN}/{ORG}/gitops.git", "targetRevision": "HEAD"}}}  # fmt: skip
    assert refreshed(payload, [application]) == ["task-api"]
    with pytest.raises(Refused):
        parse(method, url_path, headers, body, "not-the-secret")

    # 3. The next run: nothing to do.
    rc, out, err = p.run()
    assert rc == 0 and out.startswith(f"up to date: {p.path} deploys {image}:{tag}@{digest}"), (out, err)
    assert p.gitops_state() == (head1, text1)

    # 4. A branch commit with a successful push build and a recorded push of its tag: only main's
    # head counts.
    branch_sha = p.commit_and_push("task-api: a branch", "refs/heads/feature")
    p.post_status(branch_sha, "success")
    p.record.notify(p.push_event(branch_sha[:length], "sha256:" + "b" * 64, event_id=f"b-{branch_sha}"))
    rc, out, err = p.run()
    assert rc == 0 and out.startswith(f"up to date: {p.path} deploys {image}:{tag}@{digest}"), (out, err)
    assert p.gitops_state() == (head1, text1)

    # 5. The next main commit, whose tag was pushed twice (a branch build wrote it too): refused.
    sha2 = p.commit_and_push("task-api: another change", "refs/heads/main", start=sha)
    p.post_status(sha2, "success")
    p.record.notify(p.push_event(sha2[:length], "sha256:" + "c" * 64, event_id=f"c1-{sha2}"),
                    p.push_event(sha2[:length], "sha256:" + "d" * 64, event_id=f"c2-{sha2}"))  # fmt: skip
    rc, out, err = p.run()
    assert rc == 1 and "refusing to deploy" in err and "pushed 2 times" in err and "gitops is unchanged" in err
    assert p.gitops_state() == (head1, text1)
    time.sleep(1)  # Gitea's webhook queue delivers within milliseconds here: none came of runs 3 to 5.
    assert len(real.receiver.requests) == deliveries + 1


def test_the_promotion_names_the_refused_token_and_the_double_answers_as_the_real_gitea(promotion, tmp_path):
    """What real Gitea answers the promoter's calls when something is off, and what the script then
    says: a token Gitea does not know (deleted or replaced: 401), a token whose account cannot see
    the repository (404), each naming its file and the fix. The double of tests/unit/roles/
    test_gitops_promote.py answers these, a stale blob sha on PUT (422) and the combined status of a
    commit without statuses exactly as the real server does."""
    p = promotion
    sha = p.commit_and_push("task-api: deployable", "refs/heads/main", start="origin/main")
    p.post_status(sha, "success")
    p.record.notify(p.push_event(sha[: p.promoter.TAG_LENGTH], "sha256:" + "e" * 64, event_id=f"e-{sha}"))
    head, text = p.gitops_state()
    unknown = tmp_path / "unknown-token"
    unknown.write_text("0" * 40)
    for setting, token_file, status, fix in (
        ("GITOPS_TOKEN_FILE", unknown, 401, "rerun the gitea and drone roles"),
        ("SOURCE_TOKEN_FILE", unknown, 401, "rerun the gitea and drone roles"),
        # The clone token's account (drone-clone) cannot see gitops: Gitea says 404, not 403.
        ("GITOPS_TOKEN_FILE", p.tokens / "source-token", 404, "GITOPS_REPO"),
    ):
        rc, out, err = p.run(**{setting: str(token_file)})
        assert rc == 1 and f"HTTP {status}" in err, (setting, out, err)
        assert f"the token in {setting} ({token_file})" in err and fix in err, err
        assert p.gitops_state() == (head, text)

    # The double and the real server, asked the same.
    unit = _load("gitops_promote_unit_double", REPO / "tests/unit/roles/test_gitops_promote.py")
    bare = p.commit_and_push("task-api: no build yet", "refs/heads/nobuild")
    _status, current = p.api(p.token("gitops"), "GET", f"/repos/{p.gitops}/contents/{p.path}?ref=main")
    stale = {"content": "eA==", "sha": "a" * 40, "branch": "main", "message": "m"}
    asks = [
        ("0" * 40, "GET", f"/repos/{p.source}/branches/main", None),
        (p.token("source"), "GET", f"/repos/{p.gitops}/contents/{p.path}?ref=main", None),
        (p.token("source"), "GET", f"/repos/{p.source}/commits/{bare}/status", None),
        (p.token("gitops"), "PUT", f"/repos/{p.gitops}/contents/{p.path}", stale),
    ]
    double = unit.start_gitea_double(main=bare, source_token=p.token("source"), gitops_token=p.token("gitops"),
                                     blob=current["sha"])  # fmt: skip
    try:
        from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import HttpClient

        def shape(status, body):
            # The parts of an answer the promoter reads or shows: the status, the message (the
            # given/expected shas aside), the combined state and its statuses.
            body = body or {}
            message = str(body.get("message", "")).split(" [", maxsplit=1)[0]
            return status, message, body.get("state"), body.get("statuses")

        answers = []
        for token, method, path, body in asks:
            real_answer = shape(*p.api(token, method, path, body))
            answers.append(real_answer)
            response = HttpClient().request(method, f"http://127.0.0.1:{double.server_address[1]}/api/v1{path}",
                                            json_body=body, headers={"Authorization": f"token {token}"})  # fmt: skip
            double_answer = shape(response.status, response.json() if response.text().strip() else None)
            assert double_answer == real_answer, (method, path)
        assert answers == [
            (401, "invalid username, password or token", None, None),
            (404, "not found", None, None),
            (200, "", "pending", None),
            (422, "sha does not match", None, None),
        ]
    finally:
        double.shutdown()
        double.server_close()
