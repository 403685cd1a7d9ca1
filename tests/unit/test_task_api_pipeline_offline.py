"""apps/task-api/.drone.yml against the air-gapped runner's rules (issue 15).

The Kubernetes runner pulls every step and service image through the nodes' containerd,
which only has the platform's registry mirrors; builds reach nothing but DNS, Gitea, the
registry and Traefik (the drone role's NetworkPolicy); the repository is not trusted (no
privileged step, no host volume). So, read from the file:
- every image is in the bundle's computed image list (the lists playbooks/bundle.yml
  pulls, inventory/sample/group_vars/all/offline.yml gauntlet_bundle_image_lists), fully
  qualified and pinned;
- every `from_secret` names a secret the drone role writes for the task-api repository;
- no step reaches outside: no URL to a host that is not a platform name, pip only through
  the index variable (PIP_INDEX_URL from the secret pip_index_url), no download tool;
- pip and the build trust the local CA (PIP_CERT, kaniko's --registry-certificate);
- the builder is a maintained one (gcr.io/kaniko-project is archived upstream);
- the image is built from pinned inputs: the base by the digest the bundle lock records (the
  drone role hands it to the build as the secret python_base_image), SOURCE_DATE_EPOCH from
  the commit's time.
"""

import importlib.util
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.lookup.bundle_images import LookupModule
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import normalize_image

REPO = Path(__file__).resolve().parents[2]
# The pipeline document; the file also declares the main-only secret (`kind: secret`).
PIPELINE = next(
    d for d in yaml.safe_load_all((REPO / "apps/task-api/.drone.yml").read_text()) if d["kind"] == "pipeline"
)
CONTAINERS = PIPELINE["steps"] + PIPELINE.get("services", [])
DRONE = REPO / "roles/drone"
DOMAINS = yaml.safe_load((REPO / "inventory/sample/group_vars/all/domains.yml").read_text())
# Hosts a build may name: the platform's *.local names (CoreDNS answers them in pods) and
# in-cluster Service names; plus localhost (the PostgreSQL service shares the pod).
LOCAL_HOST = re.compile(r"^(localhost|[a-z0-9.-]+\.local|[a-z0-9.-]+\.svc(\.cluster\.local)?)$")
# Registries whose projects are archived upstream: never a builder again.
ARCHIVED = ("gcr.io/kaniko-project/",)
# Tools that fetch from the internet by themselves.
DOWNLOADERS = {"curl", "wget", "apk", "apt", "apt-get", "yum", "dnf", "npm", "go", "git", "gem", "cargo", "uv"}
# git subcommands that only read the local clone (the commit time for SOURCE_DATE_EPOCH).
LOCAL_GIT = {"log", "rev-parse", "show"}


def bundle_images() -> set[str]:
    """The computed list's files, as the inventory names them (paths relative to the checkout)."""
    offline = (REPO / "inventory/sample/group_vars/all/offline.yml").read_text()
    lists = yaml.safe_load(offline)["gauntlet_bundle_image_lists"]
    paths = [item.replace("{{ gauntlet_inventory_dir }}/../..", str(REPO)) for item in lists]
    assert all(Path(p).is_file() for p in paths), paths
    return set(LookupModule().run([], bundle_dir=str(REPO), lists=paths))


def git_words(words: list[str]) -> list[str]:
    """A git command's words without its global options (-c name=value, -C dir)."""
    rest = words[1:]
    while rest and rest[0] in ("-c", "-C"):
        rest = rest[2:]
    return rest


def sh(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """A step's commands as Drone runs them: one POSIX shell script with `set -e`, in the workspace."""
    return subprocess.run(
        ["sh", "-ec", script.replace("$$", "$")], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )


def commands(step) -> list[list[str]]:
    """Each simple command of a step, split like sh would (Drone's $$ is a literal $)."""
    lines = []
    for text in step.get("commands", []):
        if not isinstance(text, str):
            continue  # test_every_command_is_a_string names it
        lexer = shlex.shlex(text.replace("$$", "$"), posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        words = []
        for token in lexer:
            if token in (";", "&&", "||", "|", "&"):
                if words:
                    lines.append(words)
                words = []
            else:
                words.append(token)
        if words:
            lines.append(words)
    return lines


def installs_with_pip(step) -> bool:
    return any("pip" in Path(words[0]).name and "install" in words for words in commands(step))


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def secrets_of(step) -> set[str]:
    return {
        value["from_secret"]
        for value in (step.get("environment") or {}).values()
        if isinstance(value, dict) and "from_secret" in value
    }


def test_every_command_is_a_string():
    # An unquoted command holding ': ' (pip's --only-binary=:all: followed by more words) is a
    # YAML mapping, which Drone cannot run: quote it, or write the option as --only-binary :all:.
    for step in CONTAINERS:
        for text in step.get("commands", []):
            assert isinstance(text, str), f"{step['name']}: {text!r} is not a command string (quote it)"


def test_every_image_is_in_the_bundle_pinned_and_fully_qualified():
    listed = bundle_images()
    for step in CONTAINERS:
        image = step["image"]
        assert image == normalize_image(image), f"{step['name']}: {image} is not fully qualified"
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag not in ("latest", "debug"), f"{step['name']}: {image} is not pinned to a release tag"
        assert image in listed, f"{step['name']}: {image} is not in the bundle's image list (apps/task-api/images.txt)"


def test_the_builder_is_maintained_and_the_archived_kaniko_is_gone():
    (build,) = [s for s in PIPELINE["steps"] if s["name"] == "build-push"]
    assert not build["image"].startswith(ARCHIVED), build["image"]
    # Maintained fork, same layout (/kaniko/executor, /busybox shell in -debug): docs/security.md, "CI builder".
    assert build["image"].startswith("ghcr.io/osscontainertools/kaniko:v") and build["image"].endswith("-debug")
    assert not any(line.startswith(ARCHIVED) for line in (REPO / "apps/task-api/images.txt").read_text().splitlines())


def test_every_secret_is_one_the_drone_role_writes_for_the_repository():
    defaults = yaml.safe_load((DRONE / "defaults/main.yml").read_text())
    variables = yaml.safe_load((DRONE / "vars/main.yml").read_text())
    # A role variable (the configure step and the secret extension's Secret both use it).
    written = set(variables["__drone_secret_values"])
    (repo,) = [r for r in defaults["drone_repositories"] if r["repo"].endswith("/task-api")]
    assert repo["settings"]["config_path"] == "apps/task-api/.drone.yml"
    available = set(repo["secrets"]) & set(variables["__drone_secret_names"]) & written
    for step in CONTAINERS:
        assert secrets_of(step) <= available, f"{step['name']}: {secrets_of(step) - available} are never written"


def test_no_step_names_a_host_outside_the_platform():
    for step in CONTAINERS:
        for text in strings({k: v for k, v in step.items() if k not in ("name", "image", "when")}):
            for host in re.findall(r"[a-z][a-z0-9+.-]*://(?:[^@/\s]*@)?([^/:\s\"']+)", text.replace("$$", "$")):
                assert host.startswith("$") or LOCAL_HOST.match(host), f"{step['name']}: {host} in {text!r}"
            # Registry references (TRIVY_DB_REPOSITORY, IMAGE, PYTHON_IMAGE): the local registry only.
            for host in re.findall(r"(?:^|[\s=\"'])([a-z0-9.-]+\.[a-z]+(?::\d+)?)/[a-z0-9]", text):
                assert LOCAL_HOST.match(host.split(":")[0]), f"{step['name']}: {host} in {text!r}"
    registry = f"{DOMAINS['local_domains_services']['registry']}:5000"
    (build,) = [s for s in PIPELINE["steps"] if s["name"] == "build-push"]
    assert build["environment"]["IMAGE"].startswith(registry + "/")
    # The base: the local registry's copy, by the lock's digest (test_the_build_takes_its_base_...).
    assert build["environment"]["PYTHON_IMAGE"] == {"from_secret": "python_base_image"}


def test_no_step_downloads_by_itself():
    for step in CONTAINERS:
        for words in commands(step):
            tool = Path(words[0]).name
            if tool == "git" and git_words(words)[:1] and git_words(words)[0] in LOCAL_GIT:
                continue  # reads the clone the runner made, fetches nothing
            assert tool not in DOWNLOADERS, f"{step['name']}: {' '.join(words)}"
        # The runner refuses these for an untrusted repository; the file must not need them.
        assert not step.get("privileged") and not step.get("volumes"), step["name"]


@pytest.mark.parametrize("step", [s for s in PIPELINE["steps"] if installs_with_pip(s)], ids=lambda s: s["name"])
def test_pip_installs_only_from_the_index_variable_with_the_local_ca(step):
    environment = step.get("environment") or {}
    assert environment.get("PIP_INDEX_URL") == {"from_secret": "pip_index_url"}, step["name"]
    assert environment.get("LOCAL_CA") == {"from_secret": "local_ca"}, step["name"]
    lines = commands(step)
    installs = [n for n, words in enumerate(lines) if "pip" in Path(words[0]).name and "install" in words]
    for number in installs:
        words = lines[number]
        # No other index, no wheelhouse, no URL: PIP_INDEX_URL is the one source.
        assert not {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host"} & set(words)
        assert not [w for w in words if "://" in w or w.startswith(("--index-url=", "--extra-index-url="))]
        # PIP_CERT points at the local CA written before pip runs.
        before = [" ".join(w) for w in lines[:number]]
        assert any("PIP_CERT=/tmp/local-ca.pem" in line for line in before), step["name"]
        assert any(line.startswith("printf") and "LOCAL_CA" in line for line in before), step["name"]


def test_the_build_uses_the_index_and_the_local_ca():
    (build,) = [s for s in PIPELINE["steps"] if s["name"] == "build-push"]
    environment = build["environment"]
    assert environment["PIP_INDEX_URL"] == {"from_secret": "pip_index_url"}
    assert environment["LOCAL_CA"] == {"from_secret": "local_ca"}
    text = "\n".join(build["commands"]).replace("$$", "$")
    # The CA goes into the build context's pip/ folder, which the Dockerfile copies to /build/pip/,
    # and pip in the build stage trusts it through PIP_CERT.
    assert "cp /kaniko/local-ca.pem /drone/src/apps/task-api/pip/local-ca.pem" in text
    assert '--build-arg "PIP_CERT=/build/pip/local-ca.pem"' in text
    assert '--build-arg "PIP_INDEX_URL=${PIP_INDEX_URL}"' in text
    # The executor pulls the base and pushes the result with the local CA.
    assert "--registry-certificate registry.local:5000=/kaniko/local-ca.pem" in text
    assert "--reproducible" in text


def test_trivy_never_updates_from_the_internet():
    for step in [s for s in PIPELINE["steps"] if "trivy" in s["image"]]:
        assert step["environment"]["TRIVY_DB_REPOSITORY"].startswith("registry.local:5000/"), step["name"]
        for words in commands(step):
            if Path(words[0]).name != "trivy":
                continue
            assert "--skip-java-db-update" in words or words[1] == "config", (step["name"], words)
            assert "--offline-scan" in words or words[1] == "config", (step["name"], words)
            assert "--skip-check-update" in words or words[1] == "image", (step["name"], words)


def test_the_pushed_tag_is_the_one_the_promotion_deploys():
    # Item 5's pipeline side: build-push pushes <IMAGE>:<first N of the commit>, scan-image gates
    # that same reference, and the CronJob drone-gitops-promote (roles/drone/files/gitops_promote.py)
    # sets newTag of the same image in gitops to the first TAG_LENGTH characters of main's head.
    spec = importlib.util.spec_from_file_location("gitops_promote", DRONE / "files/gitops_promote.py")
    promote = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(promote)
    steps = {s["name"]: s for s in PIPELINE["steps"]}
    pushed = re.findall(r'--destination "\$\{IMAGE\}:\$\(echo "\$\{DRONE_COMMIT_SHA\}" \| cut -c1-(\d+)\)"',
                        "\n".join(steps["build-push"]["commands"]).replace("$$", "$"))  # fmt: skip
    assert pushed == [str(promote.TAG_LENGTH)]
    scanned = "\n".join(steps["scan-image"]["commands"]).replace("$$", "$")
    assert f'"${{IMAGE}}:$(echo "${{DRONE_COMMIT_SHA}}" | cut -c1-{promote.TAG_LENGTH})"' in scanned
    platform = yaml.safe_load((REPO / "inventory/sample/group_vars/all/platform.yml").read_text())  # the site's port
    image = f"{DOMAINS['local_domains_services']['registry']}:{platform['gauntlet_registry_port']}/gauntlet/task-api"
    assert steps["build-push"]["environment"]["IMAGE"] == steps["scan-image"]["environment"]["IMAGE"] == image
    defaults = yaml.safe_load((DRONE / "defaults/main.yml").read_text())
    assert defaults["drone_promote_image_name"].endswith("/gauntlet/task-api")
    kustomization = yaml.safe_load((REPO / "gitops/task-api/kustomization.yaml").read_text())
    assert [entry["name"] for entry in kustomization["images"]] == [image]
    # The promotion waits for Drone's push status, which the push build (with build-push) posts.
    assert defaults["drone_promote_status_context"] == "continuous-integration/drone/push"
    assert "push" in PIPELINE["trigger"]["event"]


# -- reproducible from pinned inputs (issue 15, item 4) -----------------------------------


def test_the_build_takes_its_base_by_the_lock_digest_from_the_drone_role():
    """The bundle lock decides the base's digest (the bundle pulled it, preload pushed that
    digest, the seed image was built FROM it). The drone role reads it from the lock and writes
    the secret python_base_image (<local registry>/<name>@sha256:..., vars/main.yml); build-push
    passes it to the Dockerfile's ARG PYTHON_IMAGE, so CI builds FROM the digest the seed did.
    The role against a lock: tests/playbooks/test_service_roles_against_doubles.py."""
    (build,) = [s for s in PIPELINE["steps"] if s["name"] == "build-push"]
    assert build["environment"]["PYTHON_IMAGE"] == {"from_secret": "python_base_image"}
    executor = next(t for t in build["commands"] if "/kaniko/executor" in t).replace("$$", "$")
    assert '--build-arg "PYTHON_IMAGE=${PYTHON_IMAGE}"' in executor
    defaults = yaml.safe_load((DRONE / "defaults/main.yml").read_text())
    variables = yaml.safe_load((DRONE / "vars/main.yml").read_text())
    (repo,) = [r for r in defaults["drone_repositories"] if r["repo"].endswith("/task-api")]
    assert "python_base_image" in repo["secrets"] and "python_base_image" in variables["__drone_secret_names"]
    assert "image_locked" in variables["__drone_secret_values"]["python_base_image"]
    # The same name the Dockerfile builds FROM by default and the bundle pulls (images.txt).
    # Empty by default: the Dockerfile's (read from the checkout when the secret is written only).
    assert defaults["drone_python_base_image"] == ""
    assert variables["__drone_python_base_image"] == "{{ drone_python_base_image or gauntlet_task_api_base_image }}"
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", (REPO / "apps/task-api/Dockerfile").read_text(), re.MULTILINE)
    assert base in (REPO / "apps/task-api/images.txt").read_text().split()


@pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")
def test_source_date_epoch_is_the_commit_time(tmp_path):
    """kaniko has no SOURCE_DATE_EPOCH of its own (osscontainertools/kaniko v1.28.3: only
    --reproducible, cmd/executor/cmd/root.go), and its -debug image has no git. A step before
    build-push, in an image with git that the bundle carries, writes the commit's time into the
    workspace; build-push passes it as the build argument the Dockerfile's useradd dates the
    account with. Run here on a clone of this checkout, as Drone runs the steps: one workspace,
    one shell script per step."""
    steps = PIPELINE["steps"]
    names = [s["name"] for s in steps]
    (build,) = [s for s in steps if s["name"] == "build-push"]
    writers = [s for s in steps if any(Path(w[0]).name == "git" and git_words(w)[:1] == ["log"] for w in commands(s))]
    assert len(writers) == 1, "one step writes the commit time"
    (writer,) = writers
    assert names.index(writer["name"]) < names.index("build-push")
    assert writer.get("when") == build.get("when"), "the commit time is written for every build that builds"
    assert writer["image"] in bundle_images()
    clone = tmp_path / "src"
    cloned = subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", f"file://{REPO}", str(clone)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert cloned.returncode == 0, cloned.stderr
    wrote = sh("\n".join(writer["commands"]), clone)
    assert wrote.returncode == 0, wrote.stderr
    committed = subprocess.run(
        ["git", "-C", str(clone), "log", "-1", "--format=%ct"], capture_output=True, text=True, check=True
    ).stdout.strip()
    lines = [t for t in build["commands"] if t.startswith("SOURCE_DATE_EPOCH=")]
    assert len(lines) == 1, build["commands"]
    read = sh(lines[0] + '\nprintf %s "$${SOURCE_DATE_EPOCH}"', clone)
    assert read.returncode == 0 and read.stdout == committed and committed.isdigit(), (read, committed)
    # Without the file build-push stops instead of building with the build day's dates.
    (clone / Path(re.findall(r"cat ([^)\s]+)", lines[0])[0])).unlink()
    assert sh(lines[0], clone).returncode != 0
    executor = next(t for t in build["commands"] if "/kaniko/executor" in t)
    assert '--build-arg "SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH}"' in executor.replace("$$", "$")
    assert build["commands"].index(lines[0]) < build["commands"].index(executor)
