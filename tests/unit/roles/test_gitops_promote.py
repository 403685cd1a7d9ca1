"""The gitops promoter (roles/drone/files/gitops_promote.py) against a Gitea API double on loopback.

The double (named as one: it is not Gitea) answers the four Gitea API v1 calls the promoter
makes, with the field names of go-gitea/gitea modules/structs (Branch.commit.id,
CombinedStatus.statuses[].context/status, ContentsResponse.content/sha, UpdateFileOptions), and
records which token each call carried.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("gitops_promote", REPO / "roles/drone/files/gitops_promote.py")
promoter = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(promoter)

MAIN = "0123456789abcdef0123456789abcdef01234567"
KUSTOMIZATION = (REPO / "gitops/task-api/kustomization.yaml").read_text()
IMAGE = "registry.local:5000/gauntlet/task-api"
PUSH = "continuous-integration/drone/push"


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
        readers = {state["source_token"]} if path.startswith("/api/v1/repos/gauntlet/task-api/") else set()
        writers = {state["gitops_token"]} if path.startswith("/api/v1/repos/gauntlet/gitops/") else set()
        if token not in readers | writers:
            return self._answer(404, {"message": "not found"})
        match method, path.split("/")[3:]:
            case "GET", ["repos", "gauntlet", "task-api", "branches", "main"]:
                return self._answer(200, {"name": "main", "commit": {"id": state["main"]}})
            case "GET", ["repos", "gauntlet", "task-api", "commits", sha, "status"]:
                statuses = state["statuses"].get(sha, [])
                return self._answer(200, {"state": "success" if statuses else "", "sha": sha, "statuses": statuses})
            case "GET", ["repos", "gauntlet", "gitops", "contents", "task-api", "kustomization.yaml"]:
                assert query == "ref=main"
                content = base64.b64encode(state["file"].encode()).decode()
                return self._answer(
                    200, {"type": "file", "encoding": "base64", "content": content, "sha": state["blob"]}
                )
            case "PUT", ["repos", "gauntlet", "gitops", "contents", "task-api", "kustomization.yaml"]:
                if body["sha"] != state["blob"]:
                    return self._answer(409, {"message": "sha does not match"})
                state["file"] = base64.b64decode(body["content"]).decode()
                state["blob"] = "b" * 40
                state["commits"].append(body)
                return self._answer(200, {"content": {"sha": state["blob"]}})
        return self._answer(404, {"message": f"no route {method} {path}"})

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")


@pytest.fixture
def gitea(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), GiteaDouble)
    server.state = {"main": MAIN, "statuses": {}, "file": KUSTOMIZATION, "blob": "a" * 40, "commits": [],
                    "calls": [], "source_token": "read-token-1", "gitops_token": "bump-token-2"}  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    (tmp_path / "source-token").write_text("read-token-1\n")
    (tmp_path / "gitops-token").write_text("bump-token-2\n")
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
    }
    yield server.state, env
    server.shutdown()


def new_tag(text):
    import yaml

    (entry,) = [i for i in yaml.safe_load(text)["images"] if i["name"] == IMAGE]
    return entry["newTag"]


def test_a_successful_push_build_of_main_is_deployed(gitea, capsys):
    state, env = gitea
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    assert promoter.main(env) == 0
    assert new_tag(state["file"]) == MAIN[:12]
    (commit,) = state["commits"]
    assert commit["branch"] == "main" and commit["sha"] == "a" * 40 and "[CI SKIP]" in commit["message"]
    # Only the tag changed.
    assert state["file"].replace(MAIN[:12], new_tag(KUSTOMIZATION)) == KUSTOMIZATION
    # The read token goes to task-api only, the bump token to gitops only.
    for _unused, path, _unused, token in state["calls"]:
        expected = "read-token-1" if "/gauntlet/task-api/" in path else "bump-token-2"
        assert token == expected, path
    assert "deployed" in capsys.readouterr().out
    # A second run changes nothing.
    assert promoter.main(env) == 0
    assert len(state["commits"]) == 1


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


def test_errors_say_what_to_fix(gitea, tmp_path, capsys):
    state, env = gitea
    (tmp_path / "gitops-token").write_text("")
    assert promoter.main(env) == 1
    assert "GITOPS_TOKEN_FILE" in capsys.readouterr().err
    assert promoter.main({k: v for k, v in env.items() if k != "REPOSITORY"}) == 1
    assert "REPOSITORY" in capsys.readouterr().err
    (tmp_path / "gitops-token").write_text("wrong\n")
    state["statuses"][MAIN] = [{"context": PUSH, "status": "success"}]
    assert promoter.main(env) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert state["commits"] == []


def test_set_tag_touches_only_the_named_image():
    text = 'images:\n  - name: other/image\n    newTag: "1"\n  - name: registry.local:5000/gauntlet/task-api\n    newTag: "0.1.0"\n'
    out = promoter.set_tag(text, IMAGE, "abcdef012345")
    assert out == text.replace('"0.1.0"', '"abcdef012345"')
    with pytest.raises(promoter.PromoteError, match="no newTag"):
        promoter.set_tag('images:\n  - name: other/image\n    newTag: "1"\n', IMAGE, "x")
