"""Which steps of the Task API pipeline get which credentials, on which events.

apps/task-api/.drone.yml is evaluated the way Drone v2.25.0 and drone-runner-kube v1.0.0-rc.5
do for the parts that matter here: a step runs when its `when` matches the build's event and
branch (drone/drone-yaml `Conditions.Match`: include/exclude lists of glob patterns), and a
repository secret reaches a pull-request build only when its `pull_request` flag is set
(harness/drone v2.25.0 operator/manager/manager.go). The drone role writes every secret with
`pull_request: false` (checked below), so pull requests get none.

The `when` guards are in the file a pusher edits, so they are the intent and not a boundary
(docs/security.md, "CI trust boundaries"). The main-only secrets (drone_main_only_secrets) are
not repository secrets: the secret extension (roles/drone/files/secret_extension.py, its own
`decide` is used below) serves them, to push builds of refs/heads/main only.
"""

import fnmatch
import importlib.util
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("secret_extension", REPO / "roles/drone/files/secret_extension.py")
extension = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extension)
# The pipeline document; the file also declares the main-only secret (`kind: secret`).
PIPELINE = next(
    d for d in yaml.safe_load_all((REPO / "apps/task-api/.drone.yml").read_text()) if d["kind"] == "pipeline"
)
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


def role_settings():
    defaults = yaml.safe_load((DRONE / "defaults/main.yml").read_text())
    variables = yaml.safe_load((DRONE / "vars/main.yml").read_text())
    return defaults, variables


def extension_serves(name, event, branch):
    """What the secret extension answers this build (the policy the role renders for task-api)."""
    defaults, _variables = role_settings()
    (repo,) = [r for r in defaults["drone_repositories"] if r["repo"].endswith("/task-api")]
    policy = {
        "branch": defaults["drone_main_only_branch"],
        "repos": {"gauntlet/task-api": [s for s in repo["secrets"] if s in defaults["drone_main_only_secrets"]]},
    }
    ref = f"refs/tags/{branch}" if event == "tag" else f"refs/heads/{branch}"
    request = {"name": name, "path": "", "repo": {"slug": "gauntlet/task-api"}, "build": {"event": event, "ref": ref}}
    return extension.decide(request, policy) == name


def delivered(event, branch):
    """Step name -> secrets the step gets in that build."""
    defaults, _variables = role_settings()
    main_only = set(defaults["drone_main_only_secrets"])
    # Written with `pull_request: true` (the pull-only registry account), all others false.
    for_pull_requests = set(defaults["drone_pull_request_secrets"])
    out = {}
    for step in PIPELINE["steps"] + PIPELINE.get("services", []):
        if runs(step, event, branch):
            wanted = secrets_of(step) & for_pull_requests if event == "pull_request" else secrets_of(step)
            out[step["name"]] = {s for s in wanted if s not in main_only or extension_serves(s, event, branch)}
    return out


def test_the_role_gives_pull_requests_only_the_pull_only_account():
    tasks = yaml.safe_load((DRONE / "tasks/configure.yml").read_text())
    block = next(t for t in tasks if "block" in t)["block"]
    (task,) = [t for t in block if "gauntlet.platform.drone_secrets" in t]
    options = task["gauntlet.platform.drone_secrets"]
    assert options["pull_request"] is False
    assert options["pull_request_names"] == "{{ drone_pull_request_secrets }}"
    defaults, variables = role_settings()
    assert defaults["drone_pull_request_secrets"] == ["registry_pull_username", "registry_pull_password"]
    # ... whose values are the account the registry grants `pull` only.
    assert defaults["drone_registry_pull_username"] == "{{ gauntlet_registry_accounts.ci_pull.name }}"
    assert defaults["drone_registry_pull_password_credential"] == "{{ gauntlet_registry_accounts.ci_pull.credential }}"
    assert "drone_registry_pull_password_credential" in variables["__drone_secret_values"]["registry_pull_password"]
    registry = yaml.safe_load((REPO / "roles/registry/defaults/main.yml").read_text())
    (account,) = [a for a in registry["registry_accounts"] if "ci_pull" in a["name"]]
    assert {action for rule in account["access"] for action in rule["actions"]} == {"pull"}


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
    assert (
        task["gauntlet.platform.drone_secrets"]["absent"] == "{{ __drone_secrets_removed + drone_main_only_secrets }}"
    )
    assert "gitops_token" in variables["__drone_secrets_removed"]
    assert "gitops_token" not in yaml.safe_dump(task["gauntlet.platform.drone_secrets"]["secrets"])


def test_images_are_pushed_from_main_only():
    pushers = [s["name"] for s in PIPELINE["steps"] if "--destination" in " ".join(s.get("commands", []))]
    assert pushers == ["build-push"]
    for event, branch in BUILDS:
        running = delivered(event, branch)
        for name in ("build-push", "scan-image"):
            assert (name in running) == ((event, branch) == ("push", "main")), f"{name} on {event} {branch}"


def test_only_push_builds_of_main_get_registry_password():
    # Drone v2 repository secrets have no branch filter: before the secret extension, every
    # push build of any branch got registry_password (the CI account, push under gauntlet/).
    for event, branch in BUILDS:
        holders = sorted(name for name, names in delivered(event, branch).items() if "registry_password" in names)
        expected = ["build-push"] if (event, branch) == ("push", "main") else []
        assert holders == expected, f"{event} on {branch}: {holders}"


def test_the_role_never_writes_a_main_only_secret_as_a_repository_secret():
    defaults, _variables = role_settings()
    assert "registry_password" in defaults["drone_main_only_secrets"]
    tasks = yaml.safe_load((DRONE / "tasks/configure.yml").read_text())
    block = next(t for t in tasks if "block" in t)["block"]
    (task,) = [t for t in block if "gauntlet.platform.drone_secrets" in t]
    written = task["gauntlet.platform.drone_secrets"]["secrets"]
    assert "rejectattr('key', 'in', drone_main_only_secrets)" in written
    # The pipeline declares each main-only secret it uses as a `kind: secret` resource with
    # `get.name`: only those names are asked of the extension (runner-go secret/external.go).
    docs = list(yaml.safe_load_all((REPO / "apps/task-api/.drone.yml").read_text()))
    declared = {d["name"]: d["get"] for d in docs if d["kind"] == "secret"}
    used = set().union(*(secrets_of(s) for s in PIPELINE["steps"]))
    for name in set(defaults["drone_main_only_secrets"]) & used:
        assert declared.get(name) == {"name": name}, name


def test_scan_source_never_pushes():
    # scan-source runs on every build; it holds the pull-only account and pushes nothing.
    scan = next(s for s in PIPELINE["steps"] if s["name"] == "scan-source")
    assert "registry_password" not in secrets_of(scan)
    assert not [c for c in scan["commands"] if "--destination" in c or "push" in c.split()]


def test_pull_requests_get_only_the_pull_only_registry_account():
    # A pull request comes from a branch of the repository (forks are not built), whose
    # author's branch pushes get every repository secret anyway: the pull-only account is
    # all a pull request gets, so that its scans can read the vulnerability database.
    for branch in ("main", "feature/x"):
        got = set().union(*delivered("pull_request", branch).values())
        assert got == {"registry_pull_username", "registry_pull_password"}, branch


# Steps log in to the registry through these environment variables (trivy's TRIVY_USERNAME
# and TRIVY_PASSWORD; the kaniko step's docker config is written from REGISTRY_*).
REGISTRY_LOGINS = [("TRIVY_USERNAME", "TRIVY_PASSWORD"), ("REGISTRY_USERNAME", "REGISTRY_PASSWORD")]


def test_every_step_that_logs_in_to_the_registry_has_an_account_wherever_it_runs():
    # Before the pull-only account, scan-source used registry_password, which the secret
    # extension serves to push builds of main only: every other build's scan failed to pull
    # trivy's database (review L11 for pull requests, and every branch with the extension).
    steps = {s["name"]: s for s in PIPELINE["steps"]}
    for event, branch in BUILDS:
        for name, names in delivered(event, branch).items():
            environment = steps[name].get("environment") or {} if name in steps else {}
            for user, password in REGISTRY_LOGINS:
                if user in environment:
                    wanted = {environment[user]["from_secret"], environment[password]["from_secret"]}
                    assert wanted <= names, f"{name} on {event} {branch}: lacks {sorted(wanted - names)}"


def test_only_the_push_step_holds_the_push_account():
    # Pulling (the scans) needs the pull-only account; only build-push pushes.
    for step in PIPELINE["steps"]:
        if "registry_password" in secrets_of(step):
            assert step["name"] == "build-push", step["name"]


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
