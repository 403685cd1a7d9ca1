"""The registry's accounts against the real registry binary and the collection's token server.

The registry role's own pieces compute everything: its controller tasks (tasks/accounts.yml:
passwords, salts, the signing key) and its templates (config.yml.j2, token-config.json.j2),
run through Ansible against inventory/sample with the folders moved to tmp_path and plain
HTTP on loopback. Then Debian's docker-registry serves that config.yml and the token server
(roles/registry/files/registry_token_server.py) serves that config.json, both on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import decode_compact
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryAuthError
from oci_images import Layer, TestImages
from registry_server import REGISTRY_BIN, free_port, need_binary

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "registry"
PLAY = """---
- name: Compute the registry role's configuration on this machine
  hosts: registry[0]
  gather_facts: false
  vars:
    ansible_connection: local
    ansible_python_interpreter: {python}
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Run the role's controller tasks (passwords, salts, signing key)
      ansible.builtin.include_role:
        name: gauntlet.platform.registry
        tasks_from: accounts
        public: true

    - name: Write the role's templates
      ansible.builtin.template:
        src: "{role}/templates/{{{{ item.src }}}}"
        dest: "{{{{ item.dest }}}}"
        mode: "0600"
      loop:
        - {{src: config.yml.j2, dest: "{registry_dir}/config.yml"}}
        - {{src: token-config.json.j2, dest: "{token_dir}/config.json"}}
"""


class Platform:
    """The real registry with the role's config, and the role's token server."""

    def __init__(self, tmp_path: Path, run_playbook):
        need_binary("docker-registry", REGISTRY_BIN)
        self.tmp = tmp_path
        self.credentials = tmp_path / "credentials"
        registry_dir, token_dir = tmp_path / "etc-registry", tmp_path / "etc-token"
        registry_dir.mkdir()
        token_dir.mkdir()
        (tmp_path / "token-state").mkdir(mode=0o700)  # tasks/token.yml creates it on the host
        self.port, self.token_port, self.events_port = free_port(), free_port(), free_port()
        self.host = f"127.0.0.1:{self.port}"
        play = tmp_path / "render.yml"
        play.write_text(PLAY.format(python=sys.executable, role=ROLE, registry_dir=registry_dir, token_dir=token_dir))
        extra = {
            "gauntlet_credentials_dir": str(self.credentials),
            "registry_config_dir": str(registry_dir),
            "registry_token_config_dir": str(token_dir),
            "registry_storage_dir": str(tmp_path / "storage"),
            "registry_tls": False,
            "registry_metrics": False,
            "registry_bind_address": "127.0.0.1",
            "registry_port": self.port,
            "registry_token_address": "127.0.0.1",
            "registry_token_port": self.token_port,
            "registry_push_log_port": self.events_port,
            "registry_token_state_dir": str(tmp_path / "token-state"),
        }
        self.render = lambda: run_playbook(play, REPO / "inventory/sample", "-e", json.dumps(extra))
        result = self.render()
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        self.token_config_file = token_dir / "config.json"
        signer = self.credentials / "registry" / "token-signer"
        shutil.copy(f"{signer}.crt", registry_dir / "token-signer.crt")
        shutil.copy(f"{signer}.crt", token_dir / "signer.crt")
        shutil.copy(f"{signer}.key", token_dir / "signer.key")
        self.registry_config = registry_dir / "config.yml"
        self.token_config = json.loads((token_dir / "config.json").read_text())
        self.procs = []
        self.token = self._start(
            [sys.executable, "-I", str(ROLE / "files" / "registry_token_server.py"), str(token_dir / "config.json")],
            "token.log",
            self.token_port,
        )
        self.registry = self._start([REGISTRY_BIN, "serve", str(self.registry_config)], "registry.log", self.port)

    def _start(self, argv, log_name, port):
        log = open(self.tmp / log_name, "ab")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((proc, log))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited: {(self.tmp / log_name).read_text()[-2000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5)
            except urllib.error.HTTPError:
                return proc
            except OSError:
                time.sleep(0.05)
                continue
            return proc
        raise RuntimeError(f"{argv[0]} did not listen on {port} within 15 s")

    def stop(self):
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()

    def account(self, kind: str) -> tuple[str, str]:
        names = {
            "node": "gauntlet-node",
            "ci": "gauntlet-ci",
            "ci_pull": "gauntlet-ci-pull",
            "preload": "gauntlet-preload",
        }
        password = (self.credentials / "registry" / f"{kind.replace('_', '-')}-password").read_text().strip()
        return names[kind], password

    def client(self, kind: str) -> RegistryClient:
        user, password = self.account(kind)
        return RegistryClient(self.host, plain_http=True, username=user, password=password, retries=0, timeout=30)

    def token_for(self, kind: str, scope: str) -> str:
        user, password = self.account(kind)
        query = urllib.parse.urlencode({"service": self.token_config["service"], "scope": scope})
        req = urllib.request.Request(f"http://127.0.0.1:{self.token_port}/token?{query}")
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
            return json.load(resp)["token"]


@pytest.fixture
def platform(tmp_path, run_playbook):
    plat = Platform(tmp_path, run_playbook)
    yield plat
    plat.stop()


def layout_with(tmp_path: Path, name: str, seed: str) -> OciLayout:
    images = TestImages(layer_size=4096)
    images.layers[seed] = Layer(seed, 4096)
    images.single(name, [seed])
    return OciLayout(str(images.write_layout(tmp_path / f"layout-{seed}", names=[name])))


def test_the_rendered_registry_uses_token_auth_without_deletes(platform):
    text = platform.registry_config.read_text()
    assert "htpasswd" not in text
    assert "token:" in text and f"realm: http://127.0.0.1:{platform.token_port}/token" in text
    assert "enabled: false" in text.split("delete:")[1].split("\n")[1]


def test_nodes_pull_but_cannot_push(platform, tmp_path):
    layout = layout_with(tmp_path, "quay.io/gauntlet/base:1", "a")
    push_bundle(layout, platform.client("preload"))
    node = platform.client("node")
    assert node.manifest_digest("quay.io/gauntlet/base", "1") is not None
    with pytest.raises(RegistryAuthError):
        push_bundle(layout_with(tmp_path, "gauntlet/task-api:x", "b"), node)
    with pytest.raises(RegistryAuthError):
        push_bundle(layout_with(tmp_path, "quay.io/gauntlet/base:2", "c"), node)


def test_ci_pull_account_pulls_everything_and_pushes_nothing(platform, tmp_path):
    # The account of the scans and of every build but main's pushes (drone role secrets
    # registry_pull_*): a branch build holding it can neither push a gauntlet/ tag nor an
    # upstream one.
    push_bundle(layout_with(tmp_path, "ghcr.io/aquasecurity/trivy-db:2", "p"), platform.client("preload"))
    push_bundle(
        layout_with(tmp_path, "registry.local:5000/gauntlet/task-api:aaaa", "q"),
        platform.client("ci"),
        registry_name="registry.local:5000",
    )
    scans = platform.client("ci_pull")
    assert scans.manifest_digest("ghcr.io/aquasecurity/trivy-db", "2") is not None
    assert scans.manifest_digest("gauntlet/task-api", "aaaa") is not None
    with pytest.raises(RegistryAuthError):
        push_bundle(
            layout_with(tmp_path, "registry.local:5000/gauntlet/task-api:bbbb", "r"),
            scans,
            registry_name="registry.local:5000",
        )
    with pytest.raises(RegistryAuthError):
        push_bundle(layout_with(tmp_path, "ghcr.io/aquasecurity/trivy-db:3", "s"), scans)


def test_ci_pushes_under_gauntlet_only(platform, tmp_path):
    ci = platform.client("ci")
    pushed = push_bundle(
        layout_with(tmp_path, "registry.local:5000/gauntlet/x:2", "e"), ci, registry_name="registry.local:5000"
    )
    assert pushed["changed"] is True
    assert ci.manifest_digest("gauntlet/x", "2") is not None
    with pytest.raises(RegistryAuthError):
        push_bundle(layout_with(tmp_path, "docker.io/library/traefik:v3", "f"), ci)
    assert platform.client("preload").manifest_digest("docker.io/library/traefik", "v3") is None


def test_delete_is_refused_for_every_account(platform, tmp_path):
    layout = layout_with(tmp_path, "quay.io/gauntlet/base:1", "g")
    result = push_bundle(layout, platform.client("preload"))
    digest = result["images"][0]["digest"]
    for kind in ("preload", "ci", "node"):
        token = platform.token_for(kind, "repository:quay.io/gauntlet/base:pull,push,delete")
        req = urllib.request.Request(
            f"http://{platform.host}/v2/quay.io/gauntlet/base/manifests/{digest}", method="DELETE"
        )
        req.add_header("Authorization", f"Bearer {token}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)  # noqa: S310 - loopback
        # 401: the token carries no delete; 405: deletes are off in storage.delete.
        assert refused.value.code in (401, 405), kind
    assert platform.client("node").manifest_digest("quay.io/gauntlet/base", digest) is not None


def test_the_token_server_grants_no_delete_and_refuses_bad_passwords(platform):
    _header, claims = decode_compact(platform.token_for("preload", "repository:quay.io/x:pull,push,delete"))
    access = claims["access"]
    assert access == [{"type": "repository", "name": "quay.io/x", "actions": ["pull", "push"]}]
    wrong = RegistryClient(platform.host, plain_http=True, username="gauntlet-node", password="wrong", retries=0)
    with pytest.raises(RegistryAuthError, match="refused user 'gauntlet-node'"):
        wrong.manifest_digest("quay.io/x", "1")
    anonymous = RegistryClient(platform.host, plain_http=True, retries=0)
    with pytest.raises(RegistryAuthError):
        anonymous.manifest_digest("quay.io/x", "1")


def test_preload_refuses_to_repoint_an_existing_upstream_tag(platform, tmp_path):
    preload = platform.client("preload")
    first = push_bundle(layout_with(tmp_path, "quay.io/argoproj/argocd:v3.5.1", "h"), preload)
    original = first["images"][0]["digest"]
    other = layout_with(tmp_path, "quay.io/argoproj/argocd:v3.5.1", "i")
    with pytest.raises(
        ContentError, match=r"^refusing to re-point existing tags: .*quay.io/argoproj/argocd:v3.5.1 already names"
    ):
        push_bundle(other, preload)
    assert preload.manifest_digest("quay.io/argoproj/argocd", "v3.5.1")[0] == original
    # Asked for on purpose, the tag moves.
    moved = push_bundle(other, preload, replace_tags=True)
    assert preload.manifest_digest("quay.io/argoproj/argocd", "v3.5.1")[0] == moved["images"][0]["digest"] != original


def test_a_token_for_another_service_is_not_issued(platform):
    user, password = platform.account("node")
    req = urllib.request.Request(f"http://127.0.0.1:{platform.token_port}/token?service=other")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 - loopback
    assert refused.value.code == 400


def test_passwords_stay_on_the_controller_and_reruns_change_nothing(platform):
    rendered = platform.token_config_file.read_text()
    assert set(platform.token_config["accounts"]) == {
        "gauntlet-node",
        "gauntlet-ci",
        "gauntlet-ci-pull",
        "gauntlet-preload",
    }
    for kind in ("node", "ci", "ci-pull", "preload"):
        path = platform.credentials / "registry" / f"{kind}-password"
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.read_text().strip() not in rendered
    assert (platform.credentials / "registry" / "token-signer.key").stat().st_mode & 0o777 == 0o600
    result = platform.render()
    assert result.returncode == 0, result.stdout[-3000:]
    assert platform.token_config_file.read_text() == rendered


LOCAL = "registry.local:5000"


def pushes_of(platform, repository: str, tag: str, kind: str = "node") -> list[dict]:
    """The token server's record of the pushes of repository:tag (GET /pushes, basic auth)."""
    user, password = platform.account(kind)
    query = urllib.parse.urlencode({"repository": repository, "tag": tag})
    req = urllib.request.Request(f"http://127.0.0.1:{platform.token_port}/pushes?{query}")
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback
        return json.load(resp)["pushes"]


def wait_for_pushes(platform, repository: str, tag: str, count: int) -> list[dict]:
    # The registry sends its notifications from an in-memory queue, after the push answered.
    deadline = time.monotonic() + 20
    while True:
        pushes = pushes_of(platform, repository, tag)
        if len(pushes) >= count or time.monotonic() > deadline:
            return pushes
        time.sleep(0.1)


def test_every_push_of_a_gauntlet_tag_is_recorded_by_the_token_server(platform, tmp_path):
    """distribution's notifications (notifications.endpoints in the role's config.yml) reach the
    token server, which records each manifest push under gauntlet/ with its digest and account:
    a tag pushed twice (a branch build overwriting main's image) shows two pushes."""
    ci = platform.client("ci")
    first = push_bundle(layout_with(tmp_path, f"{LOCAL}/gauntlet/task-api:0123456789ab", "p1"), ci, registry_name=LOCAL)
    # The second push moves the tag, as a branch build's kaniko would (it does not check).
    second = push_bundle(
        layout_with(tmp_path, f"{LOCAL}/gauntlet/task-api:0123456789ab", "p2"),
        ci,
        registry_name=LOCAL,
        replace_tags=True,
    )
    digests = [first["images"][0]["digest"], second["images"][0]["digest"]]
    assert digests[0] != digests[1]
    pushes = wait_for_pushes(platform, "gauntlet/task-api", "0123456789ab", 2)
    assert [p["digest"] for p in pushes] == digests, pushes
    assert {p["account"] for p in pushes} == {"gauntlet-ci"}
    assert all(p["time"] and p["id"] for p in pushes)
    # Another tag has its own record; upstream paths are not recorded.
    push_bundle(layout_with(tmp_path, f"{LOCAL}/gauntlet/task-api:fedcba987654", "p3"), ci, registry_name=LOCAL)
    assert len(wait_for_pushes(platform, "gauntlet/task-api", "fedcba987654", 1)) == 1
    push_bundle(layout_with(tmp_path, "quay.io/gauntlet/base:1", "p4"), platform.client("preload"))
    time.sleep(1)
    assert pushes_of(platform, "quay.io/gauntlet/base", "1", "preload") == []
    assert len(pushes_of(platform, "gauntlet/task-api", "0123456789ab")) == 2
    # The record is a private file in the token server's state folder (read again at start).
    record = tmp_path / "token-state" / "pushes.jsonl"
    assert record.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [(r["tag"], r["digest"]) for r in lines[:2]] == [("0123456789ab", d) for d in digests]
    assert len(lines) == 3


def test_the_push_record_takes_events_only_from_the_registry(platform):
    """The events listener is on loopback and wants the registry's bearer token; /pushes wants
    an account that may pull the repository."""
    envelope = json.dumps({"events": [{"id": "forged", "action": "push", "timestamp": "2026-12-05T00:00:00Z",
                                       "target": {"repository": "gauntlet/task-api", "tag": "forged0000ab",
                                                  "digest": "sha256:" + "0" * 64}, "actor": {"name": "x"}}]})  # fmt: skip
    for header in ({}, {"Authorization": "Bearer wrong"}):
        req = urllib.request.Request(
            f"http://127.0.0.1:{platform.events_port}/events", data=envelope.encode(), method="POST", headers=header
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=10)  # noqa: S310 - loopback
        assert refused.value.code == 401
    assert pushes_of(platform, "gauntlet/task-api", "forged0000ab") == []
    req = urllib.request.Request(f"http://127.0.0.1:{platform.token_port}/pushes?repository=gauntlet/task-api&tag=x")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req, timeout=10)  # noqa: S310 - loopback
    assert refused.value.code == 401
