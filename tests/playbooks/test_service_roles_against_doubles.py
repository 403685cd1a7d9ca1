"""The gitea and drone roles' configure tasks, run by Ansible against the Gitea and Drone test doubles.

The steps before the API calls need a cluster (Deployment waits, the Gitea CLI through
`kubectl exec`), so a harness play imports each role's configure tasks and starts at the
first API task, with the facts those steps set given as play variables. Everything from
there runs for real: the modules, their arguments as the role builds them, the pushes of
this checkout's folders through git smart HTTP (the Gitea double runs `git http-backend`),
Drone's OAuth2 login through Gitea, and a second run that must change nothing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins"))

sys.path.insert(0, str(REPO / "tests"))

from collection_defaults import collection_defaults  # noqa: E402
from contract_paths import CONTRACT_PATHS  # noqa: E402
from service_doubles import DroneDouble, GiteaDouble  # noqa: E402
from wheel_files import make_wheel  # noqa: E402

ADMIN_PASSWORD = "admin-password-0123456789"
# The Task API's build base as the Dockerfile names it (the sample inventory reads it from there).
BASE_IMAGE = "docker.io/library/python:3.13.7-slim-trixie"
CI_PASSWORD = "ci-password-0123456789ab"

GITEA_PLAY = """
- name: Harness for the gitea role's configure tasks
  hosts: localhost
  gather_facts: false
  vars:
    __gitea_ready: true
    __gitea_admin_missing: false
    __gitea_admin_login: {status: 200}
    __gitea_api_ok: true
    __gitea_admin_password: "{{ lookup('gauntlet.platform.credential', 'gitea/admin-password', dir=gauntlet_credentials_dir) }}"
    __gitea_argocd_password: "{{ lookup('gauntlet.platform.credential', 'gitea/argocd-password', dir=gauntlet_credentials_dir) }}"
    __gitea_ci_password: "{{ lookup('gauntlet.platform.credential', 'gitea/ci-password', dir=gauntlet_credentials_dir) }}"
    __gitea_clone_password: "{{ lookup('gauntlet.platform.credential', 'gitea/clone-password', dir=gauntlet_credentials_dir) }}"
    __gitea_gitops_password: "{{ lookup('gauntlet.platform.credential', 'gitea/gitops-password', dir=gauntlet_credentials_dir) }}"
    __gitea_argocd_webhook_secret: "{{ lookup('gauntlet.platform.credential', 'argocd/gitea-webhook-secret', dir=gauntlet_credentials_dir) }}"
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The role's configure tasks
      ansible.builtin.import_role:
        name: gauntlet.platform.gitea
        tasks_from: configure.yml
"""

PACKAGES_PLAY = """
- name: Harness for the gitea role's package index tasks
  hosts: localhost
  gather_facts: false
  vars:
    __gitea_ready: true
    __gitea_api_ok: true
    __gitea_admin_password: "{{ lookup('gauntlet.platform.credential', 'gitea/admin-password', dir=gauntlet_credentials_dir) }}"
    __gitea_packages_password: "{{ lookup('gauntlet.platform.credential', 'gitea/packages-password', dir=gauntlet_credentials_dir) }}"
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The role's package index tasks
      ansible.builtin.import_role:
        name: gauntlet.platform.gitea
        tasks_from: packages.yml
"""

DRONE_PLAY = """
- name: Harness for the drone role's configure tasks
  hosts: localhost
  gather_facts: false
  vars:
    __drone_ready: true
    __drone_ca_pem: "-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n"
    __drone_admin_token: "{{ lookup('gauntlet.platform.credential', 'drone/admin-token', dir=gauntlet_credentials_dir, chars='hex', length=32) }}"
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The role's configure tasks
      ansible.builtin.import_role:
        name: gauntlet.platform.drone
        tasks_from: configure.yml
"""

COMMON = {
    **CONTRACT_PATHS,
    "local_domains_services": {"gitea": "gitea.local", "drone": "drone.local"},
    "gauntlet_gitea_org": "gauntlet",
    "gauntlet_images": {
        "gitea": "g",
        "drone": "d",
        "drone_runner_kube": "r",
        "drone_placeholder": "p",
        "drone_git": "c",
    },
    "gauntlet_postgres_host": "db",
    "gauntlet_gitea_internal_url": "http://gitea-http.gitea.svc:3000",
    # The roles' namespaces default to its entries: every entry, as the collection has them.
    "gauntlet_namespaces": collection_defaults()["gauntlet_namespaces"],
    "gauntlet_pypi_owner": "gauntlet-packages",
    "gauntlet_registry_accounts": {
        "node": {"name": "gauntlet-node", "credential": "registry/node-password"},
        "ci": {"name": "gauntlet-ci", "credential": "registry/ci-password"},
        "ci_pull": {"name": "gauntlet-ci-pull", "credential": "registry/ci-pull-password"},
        "preload": {"name": "gauntlet-preload", "credential": "registry/preload-password"},
    },
    "gauntlet_linkerd_enabled": True,
    "gauntlet_linkerd_inject_namespaces": [],
    "ansible_python_interpreter": sys.executable,
}


def write_credential(folder: Path, name: str, value: str):
    path = folder / name
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(value + "\n")
    path.chmod(0o600)


def play(tmp_path, text, extra, start_at, *options, fails=False):
    """Run the harness from `start_at`; the output and the recap's changed count. With
    fails=True the run must fail (the refusal's message is in the output)."""
    playbook = tmp_path / "harness.yml"
    playbook.write_text(text)
    done = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            str(playbook),
            "-e",
            json.dumps(extra),
            "--start-at-task",
            start_at,
            *options,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
        check=False,
        timeout=600,
    )
    assert (done.returncode != 0) == fails, done.stdout[-4000:] + done.stderr[-2000:]
    recap = done.stdout.split("PLAY RECAP")[-1]
    return done.stdout, int(recap.split("changed=")[1].split()[0])


@pytest.fixture
def gitea():
    server = GiteaDouble("gauntlet-admin", ADMIN_PASSWORD)
    yield server
    server.close()


def git_show(gitea, repo, path):
    done = subprocess.run(["git", "--git-dir", gitea.git_dir("gauntlet", repo), "show", f"main:{path}"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return done.stdout if done.returncode == 0 else None


def test_gitea_configure_creates_everything_then_changes_nothing(gitea, tmp_path):
    credentials = tmp_path / "credentials"
    write_credential(credentials, "gitea/admin-password", ADMIN_PASSWORD)
    extra = {**COMMON, "gauntlet_credentials_dir": str(credentials), "__gitea_url": gitea.url, "gitea_ca_path": "",
             "gitea_source_dir": str(REPO)}  # fmt: skip
    start = "configure | Accounts of Argo CD and of the CI"
    out, changed = play(tmp_path, GITEA_PLAY, extra, start)
    assert changed == 8, out[-3000:]
    assert {"argocd", "gauntlet-ci", "drone-clone", "gitops-bump"} <= set(gitea.users)
    assert gitea.users["argocd"]["password"] == (credentials / "gitea/argocd-password").read_text().strip()
    assert gitea.orgs == {"gauntlet": {"visibility": "private"}}
    # drone-clone: read on task-api only (Drone's clone credentials, DRONE_GIT_USERNAME/PASSWORD).
    assert gitea.repos[("gauntlet", "task-api")]["collaborators"] == {"gauntlet-ci": "admin", "drone-clone": "read"}
    # The tag-bump token's account writes gitops only; the CI account (admin of task-api) has no access there.
    assert gitea.repos[("gauntlet", "gitops")]["collaborators"] == {"argocd": "read", "gitops-bump": "write"}
    # main of both repositories: push only by the named accounts, never a force push
    # (Gitea's CreateBranchProtectionOption fields, modules/structs/repo_branch.go).
    for repo, pushers in (("task-api", ["gauntlet-admin"]), ("gitops", ["gauntlet-admin", "gitops-bump"])):
        rule = gitea.protections[("gauntlet", repo)]["main"]
        assert rule["enable_push"] is True and rule["enable_push_whitelist"] is True, repo
        assert sorted(rule["push_whitelist_usernames"]) == pushers, repo
        assert rule["enable_force_push"] is False and rule["push_whitelist_deploy_keys"] is False, repo
    (clone_token,) = gitea.tokens["drone-clone"]
    assert clone_token["scopes"] == ["read:repository"]
    assert (credentials / "gitea/clone-token").read_text().strip() == clone_token["sha1"]
    assert (credentials / "gitea/clone-token").stat().st_mode & 0o777 == 0o600
    # task-api keeps the checkout's layout (its pipeline's paths); gitops gets gitops/ at its root.
    assert git_show(gitea, "task-api", "apps/task-api/.drone.yml") == (REPO / "apps/task-api/.drone.yml").read_text()
    assert git_show(gitea, "task-api", "tests/gitops/test_task_api_manifests.py") is not None
    assert (
        git_show(gitea, "gitops", "task-api/kustomization.yaml")
        == (REPO / "gitops/task-api/kustomization.yaml").read_text()
    )
    assert git_show(gitea, "gitops", "gitops/README.md") is None
    (app,) = gitea.apps.values()
    assert app["redirect_uris"] == ["https://drone.local/login"]
    assert (credentials / "drone/gitea-client-secret").read_text().strip() == app["client_secret"]
    (bump_token,) = gitea.tokens["gitops-bump"]
    assert bump_token["scopes"] == ["write:repository"] and "gauntlet-ci" not in gitea.tokens
    assert (credentials / "gitea/ci-token").read_text().strip() == bump_token["sha1"]
    assert ADMIN_PASSWORD not in out and app["client_secret"] not in out
    # gitops pushes of main are sent to Argo CD's webhook in the cluster, signed with the
    # credential the argocd role puts into argocd-secret (webhook.gogs.secret).
    (hook,) = gitea.hooks[("gauntlet", "gitops")].values()
    webhook_secret = (credentials / "argocd/gitea-webhook-secret").read_text().strip()
    assert (credentials / "argocd/gitea-webhook-secret").stat().st_mode & 0o777 == 0o600
    assert hook == {"type": "gitea", "url": "http://argocd-server.argocd.svc/api/webhook", "content_type": "json",
                    "secret": webhook_secret, "events": ["push"], "branch_filter": "main", "active": True}  # fmt: skip
    assert ("gauntlet", "task-api") not in gitea.hooks and webhook_secret not in out

    out, changed = play(tmp_path, GITEA_PLAY, extra, start, "--check")
    assert changed == 0, out[-3000:]
    out, changed = play(tmp_path, GITEA_PLAY, extra, start)
    assert changed == 0, out[-3000:]
    assert "'task-api': 'none'" in out.replace('"', "'")

    # A rule someone loosened by hand (force push allowed, anyone with write may push) is put back.
    gitea.protections[("gauntlet", "gitops")]["main"].update(enable_force_push=True, enable_push_whitelist=False)
    out, changed = play(tmp_path, GITEA_PLAY, extra, start)
    assert changed == 1, out[-3000:]
    rule = gitea.protections[("gauntlet", "gitops")]["main"]
    assert rule["enable_force_push"] is False and rule["enable_push_whitelist"] is True


def test_the_clone_token_clones_task_api_and_nothing_else(gitea, tmp_path):
    credentials = tmp_path / "credentials"
    write_credential(credentials, "gitea/admin-password", ADMIN_PASSWORD)
    extra = {**COMMON, "gauntlet_credentials_dir": str(credentials), "__gitea_url": gitea.url, "gitea_ca_path": "",
             "gitea_source_dir": str(REPO)}  # fmt: skip
    play(tmp_path, GITEA_PLAY, extra, "configure | Accounts of Argo CD and of the CI")
    token = (credentials / "gitea/clone-token").read_text().strip()
    base = gitea.url.replace("://", f"://drone-clone:{token}@")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0")

    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, env=env, check=False, timeout=60)

    assert git("clone", "-q", f"{base}/gauntlet/task-api.git", str(tmp_path / "clone")).returncode == 0
    assert git("clone", "-q", f"{base}/gauntlet/gitops.git", str(tmp_path / "gitops")).returncode != 0
    work = tmp_path / "clone"
    git("-C", str(work), "-c", "user.name=x", "-c", "user.email=x@x", "commit", "-q", "--allow-empty", "-m", "x")
    assert git("-C", str(work), "push", "-q", "origin", "HEAD:refs/heads/attack").returncode != 0


def test_gitea_packages_fill_the_index_from_the_bundle_then_change_nothing(gitea, tmp_path):
    credentials = tmp_path / "credentials"
    write_credential(credentials, "gitea/admin-password", ADMIN_PASSWORD)
    bundle = tmp_path / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    wheels = [make_wheel(bundle / "wheels", "gauntlet-demo", "1.0.0")]
    (bundle / "bundle.lock.json").write_text(json.dumps({"version": 1, "images": [], "files": [], "wheels": wheels}))
    extra = {**COMMON, "gauntlet_credentials_dir": str(credentials), "__gitea_url": gitea.url, "gitea_ca_path": "",
             "gauntlet_bundle_dir": str(bundle), "gauntlet_pypi_owner": "gauntlet-packages"}  # fmt: skip
    start = "packages | Account owning the registry (private)"
    out, changed = play(tmp_path, PACKAGES_PLAY, extra, start)
    assert changed == 3, out[-3000:]
    password = (credentials / "gitea/packages-password").read_text().strip()
    assert gitea.users["gauntlet-packages"]["password"] == password and password not in out
    (token,) = gitea.tokens["gauntlet-packages"]
    assert token["scopes"] == ["read:package"]
    assert (credentials / "gitea/pip-token").read_text().strip() == token["sha1"]
    files = gitea.packages[("gauntlet-packages", "gauntlet-demo")]["1.0.0"]
    assert {name: f["sha256"] for name, f in files.items()} == {wheels[0]["filename"]: wheels[0]["sha256"]}

    out, changed = play(tmp_path, PACKAGES_PLAY, extra, start)
    assert changed == 0, out[-3000:]

    # A bundle without the wheel list stops with what to do.
    (bundle / "bundle.lock.json").write_text(json.dumps({"version": 1, "images": [], "files": []}))
    playbook = tmp_path / "harness.yml"
    done = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook), "-e", json.dumps(extra)],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=600,
        env=dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1"),
    )  # fmt: skip
    assert done.returncode != 0
    assert 'has no list "wheels" of wheels' in done.stdout and "playbooks/bundle.yml" in done.stdout


def test_drone_configure_links_activates_stores_secrets_then_changes_nothing(gitea, tmp_path):
    drone = DroneDouble(gitea, client_id="cid", client_secret="csecret")
    try:
        credentials = tmp_path / "credentials"
        token = "0123456789abcdef0123456789abcdef"
        write_credential(credentials, "drone/admin-token", token)
        write_credential(credentials, "gitea/ci-password", CI_PASSWORD)
        write_credential(credentials, "gitea/ci-token", "c" * 40)
        write_credential(credentials, "registry/ci-password", "registry-password-0123456789")
        write_credential(credentials, "registry/node-password", "node-password-never-in-drone")
        write_credential(credentials, "registry/ci-pull-password", "pull-password-0123456789")
        write_credential(credentials, "gitea/pip-token", "d" * 40)
        gitea.add_user("gauntlet-ci", CI_PASSWORD)
        gitea.orgs["gauntlet"] = {"visibility": "private"}
        gitea.repos[("gauntlet", "task-api")] = {"description": "", "private": True, "default_branch": "main",
                                                 "collaborators": {"gauntlet-ci": "admin"}}  # fmt: skip
        gitea.apps[1] = {"owner": "gauntlet-admin", "name": "drone", "redirect_uris": [f"{drone.url}/login"],
                         "confidential_client": True, "client_id": "cid", "client_secret": "csecret"}  # fmt: skip
        drone.bootstrap("gauntlet-ci", token)
        # An older run stored the gitops bump token and registry_password (now main-only, served
        # by the secret extension) as repository secrets: this run removes both.
        drone.secrets["gauntlet/task-api"] = {"gitops_token": {"data": "c" * 40, "pull_request": False},
                                              "registry_password": {"data": "old", "pull_request": False}}  # fmt: skip
        # The bundle lock pins the Task API build's base: the secret python_base_image carries
        # the local registry's copy by that digest. A lock without it stops the run first.
        bundle = tmp_path / "bundle"
        bundle.mkdir()
        lock = bundle / "bundle.lock.json"
        lock.write_text(json.dumps({"version": 1, "images": [], "files": []}))
        extra = {**COMMON, "gauntlet_credentials_dir": str(credentials), "__drone_url": drone.url,
                 "drone_gitea_url": gitea.url, "drone_ca_path": "", "drone_pip_index_url": "https://pypi.test/simple",
                 "gauntlet_bundle_dir": str(bundle), "gauntlet_task_api_base_image": BASE_IMAGE,
                 "local_domains_services": {**COMMON["local_domains_services"], "registry": "registry.local"},
                 "gauntlet_registry_port": 5000}  # fmt: skip
        # The pipeline secrets' values are role variables (vars/main.yml __drone_secret_values).
        start = "configure | Check the package index token exists"
        out, changed = play(tmp_path, DRONE_PLAY, extra, start, fails=True)
        assert changed == 0, out[-3000:]
        assert f"{lock} has no digest for {BASE_IMAGE}" in out and "playbooks/bundle.yml" in out, out[-3000:]
        assert not drone.repos.get("gauntlet/task-api", {}).get("active"), "the refusal comes before any change"
        assert not drone.secrets["gauntlet/task-api"].get("local_ca")
        base_digest = "sha256:" + "5" * 64
        lock.write_text(json.dumps({"version": 1, "files": [], "images": [
            {"name": "docker.io/library/python:3.13.7-slim-trixie", "digest": base_digest,
             "media_type": "application/vnd.oci.image.index.v1+json", "source": "docker.io/library/python:3.13.7-slim-trixie"},
        ]}))  # fmt: skip
        out, changed = play(tmp_path, DRONE_PLAY, extra, start)
        assert changed == 2, out[-3000:]
        assert drone.users["gauntlet-ci"]["scm_linked"] is True
        repo = drone.repos["gauntlet/task-api"]
        assert repo["active"] is True and repo["config_path"] == "apps/task-api/.drone.yml"
        stored = drone.secrets["gauntlet/task-api"]
        # registry_password is main-only: no repository secret, which every branch push build would get.
        assert sorted(stored) == [
            "local_ca",
            "pip_index_url",
            "python_base_image",
            "registry_pull_password",
            "registry_pull_username",
            "registry_username",
        ]
        assert not any(s["data"] == "registry-password-0123456789" for s in stored.values())
        # pip sends the URL's credentials as basic auth: the index account's read:package token.
        assert stored["pip_index_url"]["data"] == f"https://gauntlet-packages:{'d' * 40}@pypi.test/simple"
        # The base by the lock's digest, from the local registry (no tag: kaniko pulls the digest).
        assert stored["python_base_image"]["data"] == f"registry.local:5000/docker.io/library/python@{base_digest}"
        # The CI account (push under gauntlet/ only), never the nodes' or the preload's.
        assert stored["registry_username"]["data"] == "gauntlet-ci"
        assert not any(s["data"] == "node-password-never-in-drone" for s in stored.values())
        # The token that writes gitops is in no Drone secret (the CronJob drone-gitops-promote holds it).
        assert not any(s["data"] == "c" * 40 for s in stored.values())
        # Pull requests get the pull-only account, nothing else.
        assert stored["registry_pull_username"]["data"] == "gauntlet-ci-pull"
        assert stored["registry_pull_password"]["data"] == "pull-password-0123456789"
        assert sorted(k for k, s in stored.items() if s["pull_request"]) == [
            "registry_pull_password",
            "registry_pull_username",
        ]
        assert drone.builds == [{"number": 1, "repo": "gauntlet/task-api", "branch": "main"}]
        assert CI_PASSWORD not in out and "registry-password-0123456789" not in out and "d" * 40 not in out
        assert "pull-password-0123456789" not in out

        out, changed = play(tmp_path, DRONE_PLAY, extra, start)
        assert changed == 0, out[-3000:]
        assert len(drone.builds) == 1
    finally:
        drone.close()
