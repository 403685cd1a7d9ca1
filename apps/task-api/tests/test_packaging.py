"""The container and pipeline files agree with each other and with the image list."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

APP_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = APP_DIR.parent.parent
IMAGE_REF = re.compile(r"^[a-z0-9.-]+\.[a-z]+(:\d+)?/[a-z0-9._/-]+:[A-Za-z0-9._-]+$")


def listed_images() -> list[str]:
    lines = (APP_DIR / "images.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def drone() -> dict:
    # The file also holds the `kind: secret` resources of the main-only secrets.
    documents = yaml.safe_load_all((APP_DIR / ".drone.yml").read_text())
    return next(d for d in documents if d["kind"] == "pipeline")


def dockerfile() -> str:
    return (APP_DIR / "Dockerfile").read_text()


def test_image_list_is_fully_qualified_and_pinned():
    images = listed_images()
    assert images
    for image in images:
        assert IMAGE_REF.match(image), f"{image} is not registry/path:tag"
        assert not image.endswith((":latest", ":debug")), f"{image} floats"
    assert len(images) == len(set(images))


def test_every_pipeline_image_is_listed():
    pipeline = drone()
    used = {step["image"] for step in pipeline["steps"]} | {svc["image"] for svc in pipeline.get("services", [])}
    assert used <= set(listed_images()), f"missing from images.txt: {sorted(used - set(listed_images()))}"


def test_dockerfile_base_is_listed_and_the_pipeline_builds_from_its_local_copy():
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile(), re.MULTILINE)
    assert match, "Dockerfile must pin its base in ARG PYTHON_IMAGE"
    base = match.group(1)
    assert base in listed_images()
    build = next(step for step in drone()["steps"] if step["name"] == "build-push")
    # The local copy by the digest the bundle lock records for this base: the drone role writes
    # it as the secret (tests/unit/test_task_api_pipeline_offline.py checks the role's side).
    assert build["environment"]["PYTHON_IMAGE"] == {"from_secret": "python_base_image"}


def test_the_image_build_trusts_the_local_ca_for_the_package_index():
    """pip verifies an index with its own certifi bundle, never the system store: the
    pipeline's build must hand the local CA to the Dockerfile's pip (review W2)."""
    text = dockerfile()
    assert re.search(r"^ARG PIP_CERT$", text, re.MULTILINE), "the Dockerfile must take PIP_CERT as a build arg"
    assert re.search(r"^COPY pip/ /build/pip/$", text, re.MULTILINE)
    assert "!pip/" in (APP_DIR / ".dockerignore").read_text().splitlines()
    build = next(step for step in drone()["steps"] if step["name"] == "build-push")
    commands = "\n".join(build["commands"])
    assert "cp /kaniko/local-ca.pem /drone/src/apps/task-api/pip/local-ca.pem" in commands
    assert '--build-arg "PIP_CERT=/build/pip/local-ca.pem"' in commands


def test_dockerfile_is_multi_stage_and_runs_as_the_manifests_user():
    text = dockerfile()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    users = re.findall(r"^USER (\S+)$", text, re.MULTILINE)
    assert users, "the image must not run as root"
    uid, _unused, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0, "numeric non-root USER, so runAsNonRoot can verify it"
    deployment = yaml.safe_load((REPO_ROOT / "gitops" / "task-api" / "deployment.yaml").read_text())
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsUser"] == int(uid)
    assert pod_security["runAsGroup"] == int(gid)
    assert "PYTHONDONTWRITEBYTECODE=1" in text, "a read-only root filesystem cannot take .pyc files"
    assert re.search(r"^STOPSIGNAL SIGTERM$", text, re.MULTILINE), "uvicorn drains on SIGTERM; do not inherit another"


def test_lock_file_agrees_with_the_requirements():
    def pins(path: Path) -> dict[str, str]:
        found = {}
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if "==" in line:
                name, version = line.split("==")
                found[re.sub(r"\[.*\]", "", name).lower().replace("_", "-")] = version
        return found

    locked = pins(APP_DIR / "requirements.lock")
    for name, version in pins(APP_DIR / "requirements.txt").items():
        assert locked.get(name) == version, f"{name}: requirements.txt {version}, lock {locked.get(name)}"


# ------------------------------------------------------------------------- gitops bump


def run(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a fixed argv (no shell) with the program resolved on PATH."""
    program = shutil.which(argv[0])
    assert program, f"{argv[0]} is not installed"
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run([program, *argv[1:]], check=kwargs.pop("check", False), **kwargs)  # noqa: S603


@pytest.fixture
def gitops_remote(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    remote = tmp_path / "gitops.git"
    seed = tmp_path / "seed"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    run(*git, "init", "-q", "--bare", str(remote), check=True)
    run(*git, "init", "-q", str(seed), check=True)
    (seed / "task-api").mkdir()
    shutil.copy(REPO_ROOT / "gitops" / "task-api" / "kustomization.yaml", seed / "task-api" / "kustomization.yaml")
    run(*git, "-C", str(seed), "add", ".", check=True)
    run(*git, "-C", str(seed), "commit", "-qm", "seed", check=True)
    run(*git, "-C", str(seed), "push", "-q", str(remote), "HEAD:main", check=True)
    return remote


def bump(remote: Path, tag: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin:/usr/local/bin",
        "HOME": str(tmp_path),
        "GITOPS_REPO": f"file://{remote}",
        "IMAGE_TAG": tag,
    }
    return run("sh", str(APP_DIR / "ci" / "bump-gitops.sh"), env=env)


def show(remote: Path, what: str) -> str:
    return run("git", "--git-dir", str(remote), *what.split()).stdout


def test_bump_commits_only_the_new_tag(gitops_remote, tmp_path):
    before = show(gitops_remote, "show main:task-api/kustomization.yaml")
    result = bump(gitops_remote, "0123456789ab", tmp_path)
    assert result.returncode == 0, result.stderr
    after = show(gitops_remote, "show main:task-api/kustomization.yaml")
    assert yaml.safe_load(after)["images"][0]["newTag"] == "0123456789ab"
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and "newTag" in changed[0][1]
    assert "[CI SKIP]" in show(gitops_remote, "log -1 --format=%s main")
    # a rerun for the same tag changes nothing
    again = bump(gitops_remote, "0123456789ab", tmp_path)
    assert again.returncode == 0 and "already deploys" in again.stdout
    assert show(gitops_remote, "rev-list --count main").strip() == "2"


@pytest.mark.parametrize("tag", ["", "bad tag", "x;rm -rf /", "a/b"])
def test_bump_refuses_invalid_tags(gitops_remote, tmp_path, tag):
    result = bump(gitops_remote, tag, tmp_path)
    assert result.returncode != 0
    assert show(gitops_remote, "rev-list --count main").strip() == "1"
