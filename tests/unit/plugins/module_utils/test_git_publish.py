"""git_publish with the real git binary against bare repositories in a temporary folder."""

import os
import shutil
import subprocess

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.services.git_publish import (
    CREDENTIAL_HELPER,
    PublishError,
    publish,
)
from ansible_collections.gauntlet.platform.plugins.modules import git_publish as module

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
SOURCE_REF = "refs/gauntlet/source/main"


def git(cwd, *args, env=None):
    base = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dev",
            "GIT_AUTHOR_EMAIL": "dev@test", "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@test"}  # fmt: skip
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env={**os.environ, **base, **(env or {})}, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def world(tmp_path):
    """A checkout-like source folder and an empty bare remote."""
    root = tmp_path / "checkout"
    (root / "gitops" / "task-api").mkdir(parents=True)
    (root / "gitops" / "README.md").write_text("# gitops\n")
    (root / "gitops" / "task-api" / "kustomization.yaml").write_text("images:\n  - name: app\n    newTag: v1\n")
    (root / "gitops" / "task-api" / "__pycache__").mkdir()
    (root / "gitops" / "task-api" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / "apps" / "svc").mkdir(parents=True)
    (root / "apps" / "svc" / "main.py").write_text("print('hi')\n")
    (root / "pyproject.toml").write_text("[tool.ruff]\n")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    return root, remote


def run(root, remote, sources=None, **kw):
    return publish(
        str(remote),
        "main",
        str(root),
        sources or [{"src": "gitops", "dest": ""}],
        exclude=["__pycache__", "*.pyc"],
        author_name="Gauntlet",
        author_email="gauntlet@test",
        message="Publish gitops",
        **kw,
    )


def clone(remote, where):
    git(where.parent, "clone", "-q", str(remote), str(where))
    return where


def test_empty_repository_gets_the_sources_and_the_marker(world, tmp_path):
    root, remote = world
    result = run(root, remote)
    assert result["changed"] and result["action"] == "created"
    assert sorted(result["paths"]) == ["A\tREADME.md", "A\ttask-api/kustomization.yaml"]
    work = clone(remote, tmp_path / "c1")
    assert sorted(p.name for p in work.iterdir() if p.name != ".git") == ["README.md", "task-api"]
    assert not (work / "task-api" / "__pycache__").exists()
    assert git(remote, "rev-parse", "main") == git(remote, "rev-parse", SOURCE_REF) == result["commit"]
    assert git(remote, "log", "-1", "--format=%an <%ae> %s", "main") == "Gauntlet <gauntlet@test> Publish gitops"


def test_unchanged_sources_push_nothing(world):
    root, remote = world
    first = run(root, remote)
    again = run(root, remote)
    assert again == {"changed": False, "action": "none", "commit": first["commit"], "paths": []}


def test_ci_commits_survive_when_sources_are_unchanged_or_change_elsewhere(world, tmp_path):
    root, remote = world
    run(root, remote)
    work = clone(remote, tmp_path / "ci")
    kustomization = work / "task-api" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("v1", "abc123"))
    git(work, "commit", "-qam", "task-api: deploy abc123 [CI SKIP]")
    git(work, "push", "-q", "origin", "main")
    ci_head = git(remote, "rev-parse", "main")

    assert run(root, remote)["action"] == "none"
    assert git(remote, "rev-parse", "main") == ci_head

    (root / "gitops" / "README.md").write_text("# gitops\n\nMore words.\n")
    result = run(root, remote)
    assert result["action"] == "merged" and result["paths"] == ["M\tREADME.md"]
    final = clone(remote, tmp_path / "after")
    assert "abc123" in (final / "task-api" / "kustomization.yaml").read_text()
    assert "More words." in (final / "README.md").read_text()
    assert git(remote, "merge-base", "--is-ancestor", ci_head, "main") == ""
    assert run(root, remote)["action"] == "none"


def test_fast_forward_when_the_branch_did_not_move(world):
    root, remote = world
    first = run(root, remote)
    (root / "gitops" / "new.yaml").write_text("a: 1\n")
    result = run(root, remote)
    assert result["action"] == "fast-forward" and result["paths"] == ["A\tnew.yaml"]
    assert git(remote, "rev-parse", "main^") == first["commit"]


def test_conflict_stops_without_pushing(world, tmp_path):
    root, remote = world
    run(root, remote)
    work = clone(remote, tmp_path / "ci")
    (work / "README.md").write_text("# changed in the repository\n")
    git(work, "commit", "-qam", "edit")
    git(work, "push", "-q", "origin", "main")
    head = git(remote, "rev-parse", "main")
    (root / "gitops" / "README.md").write_text("# changed in the checkout\n")
    with pytest.raises(PublishError, match=r"conflict with commits on main .* in: README.md"):
        run(root, remote)
    assert git(remote, "rev-parse", "main") == head


def test_check_mode_pushes_nothing(world):
    root, remote = world
    result = run(root, remote, check_mode=True)
    assert result["changed"] and result["action"] == "created"
    assert git(remote, "for-each-ref") == ""


def test_foreign_content_is_adopted_only_when_equal(world, tmp_path):
    root, remote = world
    work = tmp_path / "seed"
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    shutil.copytree(root / "gitops", work, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    git(work, "add", "-A")
    git(work, "commit", "-qm", "by hand")
    git(work, "push", "-q", str(remote), "main")
    result = run(root, remote)
    assert result["action"] == "adopted"
    assert git(remote, "rev-parse", SOURCE_REF) == git(remote, "rev-parse", "main")
    (work / "README.md").write_text("different\n")
    other = tmp_path / "remote2.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(other))
    git(work, "commit", "-qam", "diverge")
    git(work, "push", "-q", str(other), "main")
    with pytest.raises(PublishError, match="empty the repository or merge the sources by hand"):
        run(root, other)


def test_several_sources_keep_their_paths(world, tmp_path):
    root, remote = world
    sources = [{"src": "apps/svc", "dest": "apps/svc"}, {"src": "gitops", "dest": "gitops"},
               {"src": "pyproject.toml", "dest": "pyproject.toml"}]  # fmt: skip
    run(root, remote, sources=sources)
    work = clone(remote, tmp_path / "c")
    assert (work / "apps" / "svc" / "main.py").is_file()
    assert (work / "gitops" / "task-api" / "kustomization.yaml").is_file()
    assert (work / "pyproject.toml").read_text() == "[tool.ruff]\n"


def test_bad_sources_and_urls_are_refused(world):
    root, remote = world
    with pytest.raises(PublishError, match="does not exist"):
        run(root, remote, sources=[{"src": "nope", "dest": "x"}])
    with pytest.raises(PublishError, match="relative path inside the repository"):
        run(root, remote, sources=[{"src": "gitops", "dest": "../up"}])
    with pytest.raises(PublishError, match="must not carry credentials"):
        run(root, "https://user:pw@gitea.test/x.git")
    with pytest.raises(PublishError, match="other than the branch itself"):
        run(root, remote, source_ref="refs/heads/main")


def test_credential_helper_reads_only_the_environment(tmp_path):
    """The helper hands git the username and password from the environment, for `get` only."""
    env = {"GAUNTLET_GIT_USERNAME": "pusher", "GAUNTLET_GIT_PASSWORD": "s3cret with spaces $HOME"}
    args = ["-c", "credential.helper=", "-c", f"credential.helper={CREDENTIAL_HELPER}"]
    done = subprocess.run(
        ["git", *args, "credential", "fill"],
        input="protocol=https\nhost=gitea.test\n\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0", **env},
        check=True,
    )
    assert "username=pusher\n" in done.stdout
    assert "password=s3cret with spaces $HOME\n" in done.stdout


def test_password_never_appears_in_errors(world):
    root, _unused = world
    password = "p4ssw0rd-that-must-not-leak"
    with pytest.raises(PublishError) as caught:
        run(root, "http://127.0.0.1:9/gauntlet/x.git", username="u", password=password)
    assert password not in str(caught.value)


def test_module_validates_author_and_password(world):
    root, remote = world
    params = {"repo_url": str(remote), "branch": "main", "root": str(root), "sources": [{"src": "gitops", "dest": ""}],
              "exclude": [], "username": None, "password": None, "ca_path": None, "author": "nobody",
              "commit_message": "m", "source_ref": None}  # fmt: skip
    with pytest.raises(PublishError, match="Name <email>"):
        module.run(params)
    with pytest.raises(PublishError, match="password is required"):
        module.run(dict(params, author="A <a@test>", username="u"))
    assert module.run(dict(params, author="A B <a@test>"))["action"] == "created"
    assert git(remote, "log", "-1", "--format=%an|%ae", "main") == "A B|a@test"


def test_publish_over_http_with_basic_auth_to_the_gitea_double(world, gitea, gitea_params, tmp_path):
    """Through Gitea's smart HTTP (the double runs git http-backend): the credential helper answers the 401."""
    from ansible_collections.gauntlet.platform.plugins.modules import gitea_repo

    root, _unused = world
    gitea.orgs["gauntlet"] = {"visibility": "private"}
    gitea.add_user("pusher", "pusher-password-0123456789")
    gitea_repo.run(gitea_params(owner="gauntlet", name="gitops", description="", private=True, default_branch="main",
                                collaborators=[{"user": "pusher", "permission": "write"}]))  # fmt: skip
    url = f"{gitea.url}/gauntlet/gitops.git"
    result = run(root, url, username="pusher", password="pusher-password-0123456789")
    assert result["action"] == "created"
    assert git(tmp_path, "--git-dir", gitea.git_dir("gauntlet", "gitops"), "rev-parse", "main") == result["commit"]
    assert run(root, url, username="pusher", password="pusher-password-0123456789")["action"] == "none"
    with pytest.raises(PublishError) as caught:
        run(root, url, username="pusher", password="wrong-password-0123456789")
    assert "wrong-password-0123456789" not in str(caught.value)
    gitea.repos[("gauntlet", "gitops")]["collaborators"]["pusher"] = "read"
    (root / "gitops" / "more.yaml").write_text("b: 2\n")
    with pytest.raises(PublishError, match="git push failed"):
        run(root, url, username="pusher", password="pusher-password-0123456789")
