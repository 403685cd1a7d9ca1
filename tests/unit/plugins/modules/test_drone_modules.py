"""drone_repo and drone_secrets against the Drone and Gitea test doubles.

The Drone double implements go-login's Gitea flow: /login redirects to Gitea's authorize
endpoint with a state cookie, and the callback exchanges the code with the Gitea double
(checking the client id and secret), so linking an account works only when the whole
browser-like flow does.
"""

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError
from ansible_collections.gauntlet.platform.plugins.modules import drone_repo, drone_secrets

TOKEN = "0123456789abcdef0123456789abcdef"
CI = "gauntlet-ci"
CI_PASSWORD = "ci-password-1234567890"


@pytest.fixture
def platform(gitea, drone):
    """Gitea with the org's task-api repository administered by the CI account, Drone with its OAuth2 app."""
    gitea.add_user(CI, CI_PASSWORD)
    gitea.orgs["gauntlet"] = {"visibility": "private"}
    gitea.repos[("gauntlet", "task-api")] = {"description": "", "private": True, "default_branch": "main",
                                             "collaborators": {CI: "admin"}}  # fmt: skip
    gitea.apps[1] = {"owner": "root", "name": "drone", "redirect_uris": [f"{drone.url}/login"],
                     "confidential_client": True, "client_id": "cid", "client_secret": "csecret"}  # fmt: skip
    drone.client_id, drone.client_secret = "cid", "csecret"
    drone.bootstrap(CI, TOKEN, admin=True)
    return gitea, drone


def repo_params(drone, gitea, **changes):
    base = {"url": drone.url, "token": TOKEN, "ca_path": None, "timeout": 10, "repo": "gauntlet/task-api",
            "settings": {"config_path": "apps/task-api/.drone.yml"},
            "link": {"gitea_url": gitea.url, "username": CI, "password": CI_PASSWORD},
            "build_on_activation": "main"}  # fmt: skip
    base.update(changes)
    return base


def test_first_run_links_syncs_activates_configures_and_builds(platform):
    gitea, drone = platform
    result = drone_repo.run(repo_params(drone, gitea))
    assert result == {"changed": True, "linked": True, "activated": True, "updated": ["config_path"], "build": 1}
    assert drone.users[CI]["scm_linked"] is True
    assert (CI, 1) in gitea.grants  # the consent page was answered
    repo = drone.repos["gauntlet/task-api"]
    assert repo["active"] is True and repo["config_path"] == "apps/task-api/.drone.yml"
    assert drone.builds == [{"number": 1, "repo": "gauntlet/task-api", "branch": "main"}]


def test_second_run_changes_nothing_and_only_reads(platform):
    gitea, drone = platform
    drone_repo.run(repo_params(drone, gitea))
    drone.requests.clear()
    gitea.requests.clear()
    result = drone_repo.run(repo_params(drone, gitea))
    assert result == {"changed": False, "linked": False, "activated": False, "updated": [], "build": None}
    assert drone.writes() == [] and gitea.requests == []
    assert len(drone.builds) == 1


def test_an_existing_grant_skips_the_consent_page(platform):
    gitea, drone = platform
    gitea.grants.add((CI, 1))
    drone_repo.run(repo_params(drone, gitea))
    assert ("POST", "/login/oauth/grant") not in gitea.requests


def test_failing_sync_relinks_once(platform):
    gitea, drone = platform
    drone_repo.run(repo_params(drone, gitea))
    drone.repos["gauntlet/task-api"]["active"] = False
    drone.users[CI]["scm_linked"] = False  # Gitea token expired, refresh failed
    result = drone_repo.run(repo_params(drone, gitea, build_on_activation=None))
    assert result["linked"] is True and result["activated"] is True and result["build"] is None


def test_check_mode_reports_activation_without_writing(platform):
    gitea, drone = platform
    result = drone_repo.run(repo_params(drone, gitea), check_mode=True)
    assert result["changed"] is True and result["activated"] is True and result["linked"] is False
    assert drone.writes() == [] and drone.users[CI]["scm_linked"] is False and drone.builds == []


def test_settings_drift_is_corrected(platform):
    gitea, drone = platform
    drone_repo.run(repo_params(drone, gitea))
    drone.repos["gauntlet/task-api"]["config_path"] = ".drone.yml"
    result = drone_repo.run(repo_params(drone, gitea, settings={"config_path": "apps/task-api/.drone.yml"}))
    assert result["updated"] == ["config_path"] and result["activated"] is False
    assert drone.repos["gauntlet/task-api"]["config_path"] == "apps/task-api/.drone.yml"


def test_machine_account_cannot_link(platform):
    gitea, drone = platform
    drone.users[CI]["machine"] = True
    with pytest.raises(ApiError, match="Machine account login is forbidden"):
        drone_repo.run(repo_params(drone, gitea))


def test_wrong_gitea_password_is_reported(platform):
    gitea, drone = platform
    params = repo_params(drone, gitea, link={"gitea_url": gitea.url, "username": CI, "password": "nope"})
    with pytest.raises(ApiError, match="Gitea web login of 'gauntlet-ci' failed"):
        drone_repo.run(params)


def test_wrong_client_secret_in_drone_is_reported(platform):
    gitea, drone = platform
    drone.client_secret = "stale"
    with pytest.raises(ApiError, match="cannot fetch token"):
        drone_repo.run(repo_params(drone, gitea))


def test_repository_without_admin_permission_is_explained(platform):
    gitea, drone = platform
    gitea.repos[("gauntlet", "task-api")]["collaborators"] = {}
    with pytest.raises(ApiError, match="not visible to Drone user 'gauntlet-ci'"):
        drone_repo.run(repo_params(drone, gitea))


def test_wrong_token_and_bad_input(platform):
    gitea, drone = platform
    with pytest.raises(ApiError, match="refused the API token"):
        drone_repo.run(repo_params(drone, gitea, token="f" * 32))
    with pytest.raises(ApiError, match="owner/name"):
        drone_repo.run(repo_params(drone, gitea, repo="task-api"))
    with pytest.raises(ApiError, match="unknown repository settings"):
        drone_repo.run(repo_params(drone, gitea, settings={"colour": "red"}))


# --- drone_secrets ---------------------------------------------------------------------------
def secret_params(drone, tmp_path, secrets, **changes):
    base = {"url": drone.url, "token": TOKEN, "ca_path": None, "timeout": 10, "repo": "gauntlet/task-api",
            "secrets": secrets, "fingerprint_file": str(tmp_path / "drone" / "fingerprints.json"),
            "pull_request": False, "absent": []}  # fmt: skip
    base.update(changes)
    return base


def test_secrets_created_kept_and_rotated(platform, tmp_path):
    _unused, drone = platform
    wanted = {"registry_username": "gauntlet", "registry_password": "registry-password-0001"}
    result = drone_secrets.run(secret_params(drone, tmp_path, wanted))
    assert result == {"changed": True, "created": ["registry_password", "registry_username"], "updated": [],
                      "deleted": []}  # fmt: skip
    stored = drone.secrets["gauntlet/task-api"]
    assert stored["registry_password"] == {"data": "registry-password-0001", "pull_request": False}
    prints = tmp_path / "drone" / "fingerprints.json"
    assert prints.stat().st_mode & 0o777 == 0o600
    assert "registry-password-0001" not in prints.read_text()
    assert drone_secrets.run(secret_params(drone, tmp_path, wanted))["changed"] is False
    rotated = dict(wanted, registry_password="registry-password-0002")
    assert drone_secrets.run(secret_params(drone, tmp_path, rotated), check_mode=True)["updated"] == [
        "registry_password"
    ]
    assert stored["registry_password"]["data"] == "registry-password-0001"
    assert drone_secrets.run(secret_params(drone, tmp_path, rotated))["updated"] == ["registry_password"]
    assert stored["registry_password"]["data"] == "registry-password-0002"


def test_secret_without_fingerprint_is_written_once_and_others_are_left_alone(platform, tmp_path):
    _unused, drone = platform
    drone.secrets["gauntlet/task-api"] = {
        "registry_password": {"data": "set-by-hand", "pull_request": True},
        "someone_elses": {"data": "keep-me", "pull_request": False},
    }
    wanted = {"registry_password": "registry-password-0001"}
    assert drone_secrets.run(secret_params(drone, tmp_path, wanted))["updated"] == ["registry_password"]
    assert drone.secrets["gauntlet/task-api"]["registry_password"] == {"data": "registry-password-0001",
                                                                       "pull_request": False}  # fmt: skip
    assert drone.secrets["gauntlet/task-api"]["someone_elses"]["data"] == "keep-me"
    assert drone_secrets.run(secret_params(drone, tmp_path, wanted))["changed"] is False


def test_only_the_named_secrets_reach_pull_requests(platform, tmp_path):
    # The pull-only registry account is the one secret pull requests get; the rest stay
    # pull_request false, and a flag changed by hand in Drone is written back.
    _unused, drone = platform
    wanted = {"registry_pull_password": "pull-password-0001", "registry_password": "push-password-0001"}
    params = secret_params(drone, tmp_path, wanted, pull_request_names=["registry_pull_password"])
    drone_secrets.run(params)
    stored = drone.secrets["gauntlet/task-api"]
    assert stored["registry_pull_password"]["pull_request"] is True
    assert stored["registry_password"]["pull_request"] is False
    assert drone_secrets.run(params)["changed"] is False
    stored["registry_password"]["pull_request"] = True
    assert drone_secrets.run(params)["updated"] == ["registry_password"]
    assert stored["registry_password"]["pull_request"] is False
    with pytest.raises(ApiError, match="pull_request_names registry_typo are not among the secrets"):
        drone_secrets.run(secret_params(drone, tmp_path, wanted, pull_request_names=["registry_typo"]))


def test_secrets_no_longer_wanted_are_deleted(platform, tmp_path):
    # The gitops bump token was a pipeline secret before the bump moved out of Drone: a
    # rerun must take it out of Drone (DELETE /api/repos/{owner}/{name}/secrets/{secret},
    # harness/drone v2.25.0 handler/api/api.go) and out of the fingerprint file.
    _unused, drone = platform
    wanted = {"registry_username": "gauntlet", "gitops_token": "old-bump-token"}
    drone_secrets.run(secret_params(drone, tmp_path, wanted))
    drone.secrets["gauntlet/task-api"]["someone_elses"] = {"data": "keep-me", "pull_request": False}
    params = secret_params(drone, tmp_path, {"registry_username": "gauntlet"}, absent=["gitops_token", "never_set"])
    assert drone_secrets.run(params, check_mode=True)["deleted"] == ["gitops_token"]
    assert "gitops_token" in drone.secrets["gauntlet/task-api"]
    result = drone_secrets.run(params)
    assert result == {"changed": True, "created": [], "updated": [], "deleted": ["gitops_token"]}
    assert sorted(drone.secrets["gauntlet/task-api"]) == ["registry_username", "someone_elses"]
    assert "gitops_token" not in (tmp_path / "drone" / "fingerprints.json").read_text()
    assert drone_secrets.run(params)["changed"] is False
    with pytest.raises(ApiError, match="both wanted and absent"):
        drone_secrets.run(secret_params(drone, tmp_path, {"a": "b"}, absent=["a"]))


def test_empty_secret_value_and_corrupt_fingerprints_fail_clearly(platform, tmp_path):
    _unused, drone = platform
    with pytest.raises(ApiError, match="registry_password: the value must be a non-empty string"):
        drone_secrets.run(secret_params(drone, tmp_path, {"registry_password": ""}))
    (tmp_path / "drone").mkdir()
    (tmp_path / "drone" / "fingerprints.json").write_text("{not json")
    with pytest.raises(ApiError, match="delete it"):
        drone_secrets.run(secret_params(drone, tmp_path, {"a": "b"}))
    assert "a" not in drone.secrets.get("gauntlet/task-api", {})
    assert (tmp_path / "drone" / "fingerprints.json").read_text() == "{not json"


def test_resolve_reaches_drone_by_name_without_the_resolver(platform, tmp_path, monkeypatch):
    import socket
    import urllib.parse

    _unused, drone = platform
    real = socket.getaddrinfo

    def resolver_double(host, *args, **kwargs):  # the controller's resolver knows no *.invalid name
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver_double)
    params = secret_params(drone, tmp_path, {"registry_username": "gauntlet"})
    params["url"] = f"http://drone.gauntlet-test.invalid:{urllib.parse.urlsplit(drone.url).port}"
    with pytest.raises(ApiError, match="cannot connect"):
        drone_secrets.run(params)
    params["resolve"] = {"drone.gauntlet-test.invalid": "127.0.0.1"}
    assert drone_secrets.run(params)["created"] == ["registry_username"]
