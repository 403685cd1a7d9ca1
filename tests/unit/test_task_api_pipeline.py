"""Which steps of the Task API pipeline get which credentials, on which events.

apps/task-api/.drone.yml is evaluated the way Drone v2.25.0 and drone-runner-kube v1.0.0-rc.5
do for the parts that matter here: a step runs when its `when` matches the build's event and
branch (drone/drone-yaml `Conditions.Match`: include/exclude lists of glob patterns), and a
repository secret reaches a pull-request build only when its `pull_request` flag is set
(harness/drone v2.25.0 operator/manager/manager.go). The drone role writes every secret with
`pull_request: false` (checked below), so pull requests get none.

The `when` guards are in the file a pusher edits, so they are the intent and not a boundary
(docs/security.md, "CI trust boundaries").
"""

import fnmatch
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PIPELINE = yaml.safe_load((REPO / "apps/task-api/.drone.yml").read_text())
DRONE = REPO / "roles/drone"
# Builds to evaluate: (event, branch). Drone sets the branch of a tag build to the tag's
# target (the repository's default branch when unknown); both are listed.
BUILDS = [
    ("push", "main"),
    ("push", "feature/x"),
    ("pull_request", "main"),
    ("pull_request", "feature/x"),
    ("tag", "main"),
    ("tag", "v1.2.3"),
]


def matches(condition, value):
    """drone-yaml Condition.Match: empty matches all, exclude wins, include must match."""
    if condition is None:
        return True
    if isinstance(condition, (str, list)):
        condition = {"include": [condition] if isinstance(condition, str) else condition}
    include, exclude = condition.get("include", []), condition.get("exclude", [])
    if any(fnmatch.fnmatchcase(value, pattern) for pattern in exclude):
        return False
    return not include or any(fnmatch.fnmatchcase(value, pattern) for pattern in include)


def runs(step, event, branch):
    when = step.get("when") or {}
    trigger = PIPELINE.get("trigger") or {}
    return all(matches(rules.get("event"), event) and matches(rules.get("branch"), branch) for rules in (trigger, when))


def secrets_of(step):
    return {
        value["from_secret"]
        for value in (step.get("environment") or {}).values()
        if isinstance(value, dict) and "from_secret" in value
    }


def delivered(event, branch):
    """Step name -> secrets the step gets in that build."""
    out = {}
    for step in PIPELINE["steps"] + PIPELINE.get("services", []):
        if runs(step, event, branch):
            out[step["name"]] = set() if event == "pull_request" else secrets_of(step)
    return out


def test_the_role_never_gives_secrets_to_pull_requests():
    tasks = yaml.safe_load((DRONE / "tasks/configure.yml").read_text())
    block = next(t for t in tasks if "block" in t)["block"]
    (task,) = [t for t in block if "gauntlet.platform.drone_secrets" in t]
    assert task["gauntlet.platform.drone_secrets"]["pull_request"] is False


def test_no_step_uses_the_clone_credentials():
    # The runner gives DRONE_NETRC_* to the clone step only (DRONE_NETRC_CLONE_ONLY); a step that
    # read them would fail, and would be asking for the token of the account Drone clones with.
    for step in PIPELINE["steps"] + PIPELINE.get("services", []):
        assert "DRONE_NETRC" not in yaml.safe_dump(step), step["name"]


def test_no_build_gets_a_gitops_token():
    # Drone gives every repository secret to every push build, of any branch, and a writer can
    # start a build labelled `main` with any commit (harness/drone v2.25.0
    # operator/manager/manager.go: only the pull_request flag filters; handler/api/repos/builds/
    # create.go). So no step may use a token that writes gitops: the bump runs outside Drone
    # (CronJob drone-gitops-promote, roles/drone/files/gitops_promote.py).
    for event, branch in BUILDS:
        holders = [name for name, names in delivered(event, branch).items() if "gitops_token" in names]
        assert holders == [], f"{event} on {branch}: {holders} get gitops_token"
    assert "gitops_token" not in (REPO / "apps/task-api/.drone.yml").read_text()
    assert not [s["name"] for s in PIPELINE["steps"] if "GITOPS" in yaml.safe_dump(s)]


def test_the_drone_role_stores_no_gitops_token_and_removes_an_old_one():
    defaults = yaml.safe_load((DRONE / "defaults/main.yml").read_text())
    variables = yaml.safe_load((DRONE / "vars/main.yml").read_text())
    assert "gitops_token" not in variables["__drone_secret_names"]
    for repo in defaults["drone_repositories"]:
        assert "gitops_token" not in repo.get("secrets", []), repo["repo"]
    tasks = yaml.safe_load((DRONE / "tasks/configure.yml").read_text())
    block = next(t for t in tasks if "block" in t)["block"]
    (task,) = [t for t in block if "gauntlet.platform.drone_secrets" in t]
    # A Drone that had it from an older run loses it.
    assert task["gauntlet.platform.drone_secrets"]["absent"] == "{{ __drone_secrets_removed }}"
    assert "gitops_token" in variables["__drone_secrets_removed"]
    assert "gitops_token" not in yaml.safe_dump(task["gauntlet.platform.drone_secrets"]["secrets"])


def test_images_are_pushed_from_main_only():
    pushers = [s["name"] for s in PIPELINE["steps"] if "--destination" in " ".join(s.get("commands", []))]
    assert pushers == ["build-push"]
    for event, branch in BUILDS:
        running = delivered(event, branch)
        for name in ("build-push", "scan-image"):
            assert (name in running) == ((event, branch) == ("push", "main")), f"{name} on {event} {branch}"


def test_registry_password_outside_main_only_pulls_the_trivy_database():
    # scan-source pulls the vulnerability database from the local registry (read). Outside a
    # push to main nothing else may hold the registry account.
    for event, branch in BUILDS:
        if (event, branch) == ("push", "main"):
            continue
        holders = sorted(name for name, names in delivered(event, branch).items() if "registry_password" in names)
        assert holders in ([], ["scan-source"]), f"{event} on {branch}: {holders}"
    scan = next(s for s in PIPELINE["steps"] if s["name"] == "scan-source")
    assert not [c for c in scan["commands"] if "--destination" in c or "push" in c.split()]


def test_pull_requests_get_no_secret():
    for branch in ("main", "feature/x"):
        assert all(not names for names in delivered("pull_request", branch).values())


def test_repository_refuses_fork_builds_and_is_not_trusted():
    defaults = yaml.safe_load((DRONE / "defaults/main.yml").read_text())
    specs = yaml.safe_load((DRONE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert specs["drone_repositories"]["default"] == defaults["drone_repositories"]
    for repo in defaults["drone_repositories"]:
        settings = repo["settings"]
        # harness/drone v2.25.0 trigger/trigger.go: a pull request whose head repository is not
        # the repository itself is skipped when ignore_forks is set.
        assert settings["ignore_forks"] is True, repo["repo"]
        # trusted would allow privileged steps and host volumes (core/repo.go, linter).
        assert settings["trusted"] is False, repo["repo"]
