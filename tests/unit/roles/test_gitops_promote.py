"""The gitops promoter (roles/drone/files/gitops_promote.py) against a Gitea API double on loopback.

The double (named as one: it is not Gitea) answers the four Gitea API v1 calls the promoter
makes, with the field names of go-gitea/gitea modules/structs (Branch.commit.id,
CombinedStatus.statuses[].context/status, ContentsResponse.content/sha, UpdateFileOptions), and
records which token each call carried. Its answers to what goes wrong follow the real Gitea 1.27.3
(tests/services/test_gitea_real.py compares them): 401 "invalid username, password or token"
for a token Gitea does not know, 404 "not found" for a repository the token's account cannot see,
422 "sha does not match" for a PUT with a stale blob sha (routers/api/v1/repo/file.go
handleCreateOrUpdateFileError), and state "pending" with statuses null for a commit without
statuses.

The push record is the registry token server's own code (roles/registry/files/
registry_token_server.py: PushLog, its /pushes answer and its notification listener) on
loopback, fed the envelopes distribution sends (notifications/event.go; the real registry
binary feeding it is tests/services/test_registry_accounts.py).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("gitops_promote", REPO / "roles/drone/files/gitops_promote.py")
promoter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(promoter)
_spec = importlib.util.spec_from_file_location(
    "registry_token_server", REPO / "roles/registry/files/registry_token_server.py"
)
token_server = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(token_server)

MAIN = "0123456789abcdef0123456789abcdef01234567"
KUSTOMIZATION = (REPO / "gitops/task-api/kustomization.yaml").read_text()
IMAGE = "registry.local:5000/gauntlet/task-api"
PUSH = "continuous-integration/drone/push"
MAIN_DIGEST = "sha256:" + "1" * 64
WRITER_DIGEST = "sha256:" + "2" * 64
NOTIFY_TOKEN = "registry-notification-token"


def push_event(tag, digest, account="gauntlet-ci", repository="gauntlet/task-api", event_id=None):
    """One event as distribution sends it for a manifest PUT by tag (notifications/event.go)."""
    return {
        "id": event_id or f"{tag}-{digest[-6:]}-{account}",
        "timestamp": "2026-12-05T06:00:00.123456789Z",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": 428,
            "length": 428,
            "repository": repository,
            "url": f"https://registry.local:5000/v2/{repository}/manifests/{digest}",
            "tag": tag,
        },
        "request": {"id": "r", "addr": "10.42.0.7:40000", "host": "registry.local:5000", "method": "PUT"},
        "actor": {"name": account},
        "source": {"addr": "registry-1:5000", "instanceID": "i"},
    }


class GiteaDouble(BaseHTTPRequestHandler):
    """Test double of Gitea's API v1 for the promoter's calls (state on the server object)."""

    def log_message(self, *args):
        pass

    def _answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method):
        state = self.server.state
        token = self.headers.get("Authorization", "").removeprefix("token ")
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        path, _unused, query = self.path.partition("?")
        state["calls"].append((method, path, query, token))
        if token not in (state["source_token"], state["gitops_token"]):
            return self._answer(401, {"message": "invalid username, password or token"})
        readers = {state["source_token"]} if path.startswith("/api/v1/repos/gauntlet/task-api/") else set()
        writers = {state["gitops_token"]} if path.startswith("/api/v1/repos/gauntlet/gitops/") else set()
        if token not in readers | writers:
            return self._answer(404, {"message": "not found"})
        match method, path.split("/")[3:]:
            case "GET", ["repos", "gauntlet", "task-api", "branches", "main"]:
                return self._answer(200, {"name": "main", "commit": {"id": state["main"]}})
            case "GET", ["repos", "gauntlet", "task-api", "commits", sha, "status"]:
                statuses = state["statuses"].get(sha) or None
                states = {s["status"] for s in statuses or []}
                combined = next((s for s in ("error", "failure", "warning", "pending") if s in states), "success")
                return self._answer(200, {"state": combined if statuses else "pending", "sha": sha,
                                          "total_count": len(statuses or []), "statuses": statuses})  # fmt: skip
            case "GET", ["repos", "gauntlet", "gitops", "contents", "task-api", "kustomization.yaml"]:
                assert query == "ref=main"
                content = base64.b64encode(state["file"].encode()).decode()
                return self._answer(
                    200, {"type": "file", "encoding": "base64", "content": content, "sha": state["blob"]}
                )
            case "PUT", ["repos", "gauntlet", "gitops", "contents", "task-api", "kustomization.yaml"]:
                if state.get("race"):  # someone committed to gitops between the promoter's GET and PUT
                    state["race"] = False
                    state["file"], state["blob"] = state["file"] + "# a concurrent change\n", "c" * 40
                if body["sha"] != state["blob"]:
                    message = f"sha does not match [given: {body['sha']}, expected: {state['blob']}]"
                    return self._answer(422, {"message": message})
                state["file"] = base64.b64decode(body["content"]).decode()
                state["blob"] = "b" * 40
                state["commits"].append(body)
                return self._answer(200, {"content": {"sha": state["blob"]}})
        return self._answer(404, {"message": f"no route {method} {path}"})

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")


class PushRecord:
    """The registry token server's push record on loopback (its own code, not a double)."""

    def __init__(self, tmp_path):
        self.password = "node-password-3"
        config = {
            "service": "gauntlet-registry",
            "accounts": {
                "gauntlet-node": {
                    "password_hash": token_server.hash_password(self.password, "salt"),
                    "access": [{"type": "repository", "name": "*", "actions": ["pull"]}],
                },
                "gauntlet-other": {
                    "password_hash": token_server.hash_password("other", "salt"),
                    "access": [{"type": "repository", "name": "quay.io/*", "actions": ["pull"]}],
                },
            },
            "pushes": {
                "listen": "127.0.0.1:0",
                "token_sha256": hashlib.sha256(NOTIFY_TOKEN.encode()).hexdigest(),
                "store": str(tmp_path / "pushes.jsonl"),
                "repositories": ["gauntlet/*"],
            },
        }
        config["_pushes"] = token_server.PushLog(config["pushes"]["store"], config["pushes"]["repositories"])
        issuer = token_server.TokenIssuer(config, log=lambda message: None)
        self.api = ThreadingHTTPServer(("127.0.0.1", 0), token_server.make_handler(issuer))
        self.events = ThreadingHTTPServer(("127.0.0.1", 0), token_server.make_events_handler(issuer))
        for httpd in (self.api, self.events):
            threading.Thread(target=httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.api.server_address[1]}/pushes"

    def notify(self, *events):
        """POST an envelope as the registry's notification endpoint does (with its bearer token)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.events.server_address[1]}/events",
            data=json.dumps({"events": list(events)}).encode(),
            method="POST",
            headers={
                "Content-Type": "application/vnd.docker.distribution.events.v2+json",
                "Authorization": f"Bearer {NOTIFY_TOKEN}",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200

    def stop(self):
        for httpd in (self.api, self.events):
            httpd.shutdown()


@pytest.fixture
def pushes(tmp_path):
    record = PushRecord(tmp_path)
    yield record
    record.stop()


READ_TOKEN, BUMP_TOKEN = "read-token-1", "bump-token-2"  # the double's test tokens


def start_gitea_double(main=MAIN, source_token=READ_TOKEN, gitops_token=BUMP_TOKEN, blob="a" * 40):
    """The double on loopback (its state: ``server.state``); the caller shuts it down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), GiteaDouble)
    server.state = {"main": main, "statuses": {}, "file": KUSTOMIZATION, "blob": blob, "commits": [],
                    "calls": [], "source_token": source_token, "gitops_token": gitops_token}  # fmt: skip
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def gitea(tmp_path, pushes):
    server = start_gitea_double()
    (tmp_path / "source-token").write_text("read-token-1\n")
    (tmp_path / "gitops-token").write_text("bump-token-2\n")
    (tmp_path / "registry-password").write_text(pushes.password + "\n")
    env = {
        "GITEA_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "SOURCE_REPO": "gauntlet/task-api",
        "SOURCE_BRANCH": "main",
        "STATUS_CONTEXT": PUSH,
        "GITOPS_REPO": "gauntlet/gitops",
        "GITOPS_BRANCH": "main",
        "GITOPS_PATH": "task-api/kustomization.yaml",
        "REPOSITORY": IMAGE,
        "SOURCE_TOKEN_FILE": str(tmp_path / "source-token"),
        "GITOPS_TOKEN_FILE": str(tmp_path / "gitops-token"),
        "PUSHES_URL": pushes.url,
        "PUSHES_USERNAME": "gauntlet-node",
        "PUSHES_PASSWORD_FILE": str(tmp_path / "registry-password"),
        "PUSH_ACCOUNT": "gauntlet-ci",
    }
    yield server.state, env
    server.shutdown()
    server.server_close()


def image_entry(text):
    (entry,) = [i for i in yaml.safe_load(text)["images"] if i["name"] == IMAGE]
    return entry


def new_tag(text):
    return image_entry(text)["newTag"]


def test_a_successful_push_build_of_main_is_deployed_by_digest(gitea, pushes, capsys):
    state, env = gitea
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    pushes.notify(push_event(MAIN[:12], MAIN_DIGEST))
    assert promoter.main(env) == 0
    assert image_entry(state["file"]) == {"name": IMAGE, "newTag": MAIN[:12], "digest": MAIN_DIGEST}
    (commit,) = state["commits"]
    assert commit["branch"] == "main" and commit["sha"] == "a" * 40 and "[CI SKIP]" in commit["message"]
    assert MAIN_DIGEST in commit["message"]
    # Only the image entry changed: the tag, and the digest line after it.
    assert (
        state["file"].replace(MAIN[:12], new_tag(KUSTOMIZATION)).replace(f'\n    digest: "{MAIN_DIGEST}"', "")
        == KUSTOMIZATION
    )
    # The read token goes to task-api only, the bump token to gitops only.
    for _unused, path, _unused, token in state["calls"]:
        expected = "read-token-1" if "/gauntlet/task-api/" in path else "bump-token-2"
        assert token == expected, path
    assert "deployed" in capsys.readouterr().out
    # A second run changes nothing.
    assert promoter.main(env) == 0
    assert len(state["commits"]) == 1
    # A later overwrite of the deployed tag changes nothing either: pods run the digest.
    pushes.notify(push_event(MAIN[:12], WRITER_DIGEST, event_id="later"))
    assert promoter.main(env) == 1
    assert len(state["commits"]) == 1 and image_entry(state["file"])["digest"] == MAIN_DIGEST


def test_a_tag_pushed_twice_is_refused_and_gitops_is_left_alone(gitea, pushes, capsys):
    """A branch build overwrote main's tag (or pushed it first): nothing is deployed, and why is said."""
    state, env = gitea
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    pushes.notify(push_event(MAIN[:12], MAIN_DIGEST), push_event(MAIN[:12], WRITER_DIGEST))
    assert promoter.main(env) == 1
    err = capsys.readouterr().err
    assert "refusing to deploy" in err and "pushed 2 times" in err
    assert MAIN_DIGEST in err and WRITER_DIGEST in err and "gitops is unchanged" in err
    assert state["commits"] == [] and state["file"] == KUSTOMIZATION
    assert not [c for c in state["calls"] if c[0] != "GET"]


def test_the_registry_resending_an_event_is_one_push(gitea, pushes):
    # The registry's retrying sink sends an event again when an answer got lost: same id.
    state, env = gitea
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    pushes.notify(push_event(MAIN[:12], MAIN_DIGEST, event_id="e1"))
    pushes.notify(push_event(MAIN[:12], MAIN_DIGEST, event_id="e1"))
    assert promoter.main(env) == 0
    assert image_entry(state["file"])["digest"] == MAIN_DIGEST


def test_a_successful_build_without_a_recorded_push_waits(gitea, pushes, capsys):
    state, env = gitea
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    pushes.notify(push_event("fedcba987654", MAIN_DIGEST))  # another tag
    assert promoter.main(env) == 0
    out = capsys.readouterr().out
    assert "waiting" in out and f"no push of {IMAGE}:{MAIN[:12]}" in out
    assert state["commits"] == []


@pytest.mark.parametrize(
    ("pushes_seen", "expected"),
    [
        ([], ("wait", None)),
        ([{"digest": MAIN_DIGEST, "account": "gauntlet-ci", "time": "t1"}], ("deploy", MAIN_DIGEST)),
        (
            [{"digest": MAIN_DIGEST, "account": "gauntlet-ci", "time": "t1"}] * 2,
            ("refuse", "pushed 2 times"),
        ),
        (
            [
                {"digest": WRITER_DIGEST, "account": "gauntlet-ci", "time": "t1"},
                {"digest": MAIN_DIGEST, "account": "gauntlet-ci", "time": "t2"},
            ],
            ("refuse", "pushed 2 times"),
        ),
        ([{"digest": MAIN_DIGEST, "account": "gauntlet-preload", "time": "t1"}], ("refuse", "gauntlet-preload")),
        ([{"digest": "sha256:short", "account": "gauntlet-ci", "time": "t1"}], ("refuse", "not a sha256 digest")),
    ],
)
def test_the_decision_deploys_only_a_tag_pushed_exactly_once_by_ci(pushes_seen, expected):
    verdict, detail = promoter.decide(pushes_seen, f"{IMAGE}:{MAIN[:12]}", "gauntlet-ci")
    assert verdict == expected[0]
    if verdict == "deploy":
        assert detail == expected[1]
    elif verdict == "refuse":
        assert expected[1] in detail and "gitops is unchanged" in detail


def test_the_registry_path_of_the_kustomization_image_name():
    assert promoter.registry_path("registry.local:5000/gauntlet/task-api") == "gauntlet/task-api"
    assert promoter.registry_path("localhost/gauntlet/x") == "gauntlet/x"
    assert promoter.registry_path("gauntlet/task-api") == "gauntlet/task-api"


def test_the_push_record_needs_an_account_that_may_pull(gitea, tmp_path, capsys):
    state, env = gitea
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    (tmp_path / "registry-password").write_text("wrong\n")
    assert promoter.main(env) == 1
    assert "HTTP 401" in capsys.readouterr().err
    assert state["commits"] == []


@pytest.mark.parametrize(
    "statuses",
    [
        [],
        [{"context": PUSH, "status": "pending"}],
        [{"context": PUSH, "status": "failure"}],
        # A custom build (POST /api/repos/{o}/{n}/builds, write access, any commit) or a
        # promotion posts these contexts (harness/drone v2.25.0 service/status/util.go).
        [{"context": "continuous-integration/drone", "status": "success"}],
        [{"context": "continuous-integration/drone/promote/production", "status": "success"}],
        [{"context": "continuous-integration/drone/pr", "status": "success"}],
    ],
)
def test_nothing_is_deployed_without_a_successful_push_build(gitea, statuses):
    state, env = gitea
    state["statuses"][MAIN] = statuses
    assert promoter.main(env) == 0
    assert state["commits"] == []
    assert not [c for c in state["calls"] if c[0] != "GET"]


def test_a_branch_commit_is_never_deployed(gitea):
    state, env = gitea
    branch_commit = "f" * 40
    state["statuses"][branch_commit] = [{"context": PUSH, "status": "success"}]
    state["statuses"][MAIN] = []
    assert promoter.main(env) == 0
    assert state["commits"] == []
    assert not [c for c in state["calls"] if branch_commit in c[1]]


def test_errors_say_what_to_fix(gitea, pushes, tmp_path, capsys):
    state, env = gitea
    pushes.notify(push_event(MAIN[:12], MAIN_DIGEST))
    (tmp_path / "gitops-token").write_text("")
    assert promoter.main(env) == 1
    assert "GITOPS_TOKEN_FILE" in capsys.readouterr().err
    assert promoter.main({k: v for k, v in env.items() if k != "REPOSITORY"}) == 1
    assert "REPOSITORY" in capsys.readouterr().err
    # A token Gitea does not know (deleted, or replaced by a rerun of the gitea role): 401, and which file.
    (tmp_path / "gitops-token").write_text("wrong\n")
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    assert promoter.main(env) == 1
    err = capsys.readouterr().err
    assert "HTTP 401" in err and f"the token in GITOPS_TOKEN_FILE ({tmp_path / 'gitops-token'})" in err
    assert "rerun the gitea and drone roles" in err
    # A token whose account cannot see the repository: Gitea answers 404.
    assert promoter.main({**env, "GITOPS_TOKEN_FILE": env["SOURCE_TOKEN_FILE"]}) == 1
    err = capsys.readouterr().err
    assert "HTTP 404" in err and f"the token in GITOPS_TOKEN_FILE ({env['SOURCE_TOKEN_FILE']})" in err
    assert "GITOPS_REPO" in err
    assert state["commits"] == []


def test_a_commit_to_gitops_during_the_run_is_not_overwritten(gitea, pushes, capsys):
    """Someone commits to gitops between the promoter's read and its write: Gitea refuses the stale
    blob sha (422); the run says so and writes nothing, the next one starts from the new content."""
    state, env = gitea
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    pushes.notify(push_event(MAIN[:12], MAIN_DIGEST))
    state["race"] = True
    assert promoter.main(env) == 1
    err = capsys.readouterr().err
    assert "HTTP 422" in err and "changed while this run edited it" in err and "the next run" in err
    assert state["commits"] == [] and state["file"].endswith("# a concurrent change\n")
    assert promoter.main(env) == 0
    assert image_entry(state["file"])["digest"] == MAIN_DIGEST and state["file"].endswith("# a concurrent change\n")


def test_set_image_touches_only_the_named_image():
    text = 'images:\n  - name: other/image\n    newTag: "1"\n  - name: registry.local:5000/gauntlet/task-api\n    newTag: "0.1.0"\n'
    out = promoter.set_image(text, IMAGE, "abcdef012345", MAIN_DIGEST)
    assert out == text.replace('"0.1.0"\n', f'"abcdef012345"\n    digest: "{MAIN_DIGEST}"\n')
    # A digest already there is replaced, not repeated.
    again = promoter.set_image(out, IMAGE, "0123456789ab", WRITER_DIGEST)
    assert again == text.replace('"0.1.0"\n', f'"0123456789ab"\n    digest: "{WRITER_DIGEST}"\n')
    with pytest.raises(promoter.PromoteError, match="no newTag"):
        promoter.set_image('images:\n  - name: other/image\n    newTag: "1"\n', IMAGE, "x", MAIN_DIGEST)


def test_what_the_promoter_writes_is_what_kustomize_deploys(tmp_path):
    """The real kustomize (kubectl kustomize) renders name:tag@digest: containerd pulls the digest.

    kubernetes-sigs/kustomize api/filters/imagetag/updater.go: with newTag and digest both set,
    the image becomes <name>:<newTag>@<digest>.
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (kustomize) is not installed")
    folder = tmp_path / "task-api"
    shutil.copytree(REPO / "gitops/task-api", folder)
    text = (folder / "kustomization.yaml").read_text()
    (folder / "kustomization.yaml").write_text(promoter.set_image(text, IMAGE, MAIN[:12], MAIN_DIGEST))
    out = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, check=True, timeout=120)
    images = {
        c["image"]
        for doc in yaml.safe_load_all(out.stdout)
        if doc and doc.get("kind") == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
        + doc["spec"]["template"]["spec"].get("initContainers", [])
        if c["image"].startswith(IMAGE)
    }
    assert images == {f"{IMAGE}:{MAIN[:12]}@{MAIN_DIGEST}"}
