"""gitea_user, gitea_org, gitea_repo, gitea_oauth_app and gitea_token against the Gitea test double."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError
from ansible_collections.gauntlet.platform.plugins.modules import (
    gitea_oauth_app,
    gitea_org,
    gitea_repo,
    gitea_token,
    gitea_user,
    gitea_webhook,
)

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tests"))

import argocd_webhook  # noqa: E402  (tests/argocd_webhook.py: Argo CD's decision, re-expressed)


# --- gitea_user ----------------------------------------------------------------------------
def test_user_is_created_then_kept(gitea, gitea_params):
    params = gitea_params(name="argocd", email="argocd@gitea.test", user_password="argocd-password-123456")
    assert gitea_user.run(params) == {"changed": True, "created": True, "password_updated": False}
    assert gitea.users["argocd"]["password"] == "argocd-password-123456"
    assert gitea.users["argocd"]["admin"] is False
    assert gitea_user.run(params) == {"changed": False, "created": False, "password_updated": False}


def test_user_password_follows_the_credential(gitea, gitea_params):
    gitea.add_user("argocd", "an-old-password-000000")
    params = gitea_params(name="argocd", email="argocd@gitea.test", user_password="the-new-password-11111")
    assert gitea_user.run(params, check_mode=True)["password_updated"] is True
    assert gitea.users["argocd"]["password"] == "an-old-password-000000"
    assert gitea_user.run(params)["password_updated"] is True
    assert gitea.users["argocd"]["password"] == "the-new-password-11111"


def test_user_check_mode_creates_nothing(gitea, gitea_params):
    params = gitea_params(name="argocd", email="a@gitea.test", user_password="argocd-password-123456")
    assert gitea_user.run(params, check_mode=True)["created"] is True
    assert "argocd" not in gitea.users
    assert gitea.writes() == []


def test_wrong_admin_password_says_so(gitea, gitea_params):
    params = gitea_params(password="wrong", name="x", email="x@gitea.test", user_password="x-password-12345678")
    with pytest.raises(ApiError, match="refused the credentials of 'root'"):
        gitea_user.run(params)


# --- gitea_org -----------------------------------------------------------------------------
def test_org_created_and_visibility_corrected(gitea, gitea_params):
    result = gitea_org.run(gitea_params(name="gauntlet", visibility="private"))
    assert result["changed"] and result["created"]
    assert gitea.orgs["gauntlet"] == {"visibility": "private"}
    assert gitea_org.run(gitea_params(name="gauntlet", visibility="private"))["changed"] is False
    gitea.orgs["gauntlet"]["visibility"] = "public"
    result = gitea_org.run(gitea_params(name="gauntlet", visibility="private"), check_mode=True)
    assert result["changed"] and result["before"] == {"visibility": "public"}
    assert gitea.orgs["gauntlet"]["visibility"] == "public"
    gitea_org.run(gitea_params(name="gauntlet", visibility="private"))
    assert gitea.orgs["gauntlet"]["visibility"] == "private"


# --- gitea_repo ----------------------------------------------------------------------------
def repo_params(gitea_params, **changes):
    base = gitea_params(
        owner="gauntlet",
        name="gitops",
        description="What Argo CD syncs",
        private=True,
        default_branch="main",
        collaborators=[{"user": "argocd", "permission": "read"}, {"user": "ci", "permission": "write"}],
    )
    base.update(changes)
    return base


def test_repo_created_with_collaborators_then_kept(gitea, gitea_params):
    gitea.orgs["gauntlet"] = {"visibility": "private"}
    gitea.add_user("argocd", "argocd-password-123456")
    gitea.add_user("ci", "ci-password-1234567890")
    result = gitea_repo.run(repo_params(gitea_params))
    assert result["created"] and result["collaborators_changed"] == ["argocd", "ci"]
    repo = gitea.repos[("gauntlet", "gitops")]
    assert repo["private"] is True and repo["default_branch"] == "main"
    assert repo["collaborators"] == {"argocd": "read", "ci": "write"}
    again = gitea_repo.run(repo_params(gitea_params))
    assert again == {
        "changed": False,
        "created": False,
        "updated": [],
        "collaborators_changed": [],
        "protection": "none",
    }


PROTECT = {"branch": "main", "push_users": ["ci", "gauntlet-admin", "ci"]}


def test_branch_protection_created_kept_and_corrected(gitea, gitea_params):
    gitea.orgs["gauntlet"] = {"visibility": "private"}
    gitea.add_user("argocd", "argocd-password-123456")
    gitea.add_user("ci", "ci-password-1234567890")
    result = gitea_repo.run(repo_params(gitea_params, branch_protection=PROTECT))
    assert result["protection"] == "created"
    rule = gitea.protections[("gauntlet", "gitops")]["main"]
    assert rule["push_whitelist_usernames"] == ["ci", "gauntlet-admin"]
    assert rule["enable_push"] and rule["enable_push_whitelist"] and not rule["enable_force_push"]
    assert not rule["push_whitelist_deploy_keys"] and not rule["enable_force_push_allowlist"]
    again = gitea_repo.run(repo_params(gitea_params, branch_protection=PROTECT))
    assert again["protection"] == "kept" and again["changed"] is False
    # Loosened by hand: anyone with write may push, force pushes allowed; other fields are not ours.
    rule.update(
        enable_push_whitelist=False, enable_force_push=True, push_whitelist_usernames=["x"], required_approvals=1
    )
    checked = gitea_repo.run(repo_params(gitea_params, branch_protection=PROTECT), check_mode=True)
    assert checked["protection"] == "updated" and checked["changed"] is True
    assert rule["enable_force_push"] is True  # check mode wrote nothing
    gitea_repo.run(repo_params(gitea_params, branch_protection=PROTECT))
    assert rule["enable_force_push"] is False and rule["enable_push_whitelist"] is True
    assert rule["push_whitelist_usernames"] == ["ci", "gauntlet-admin"] and rule["required_approvals"] == 1


@pytest.mark.parametrize(
    ("protection", "message"),
    [
        ({"branch": "", "push_users": []}, "must name a branch"),
        ({"branch": "main", "push_users": "ci"}, "list of account"),
    ],
)
def test_bad_branch_protection_fails_with_the_reason(gitea, gitea_params, protection, message):
    gitea.orgs["gauntlet"] = {"visibility": "private"}
    with pytest.raises(ApiError, match=message):
        gitea_repo.run(repo_params(gitea_params, collaborators=[], branch_protection=protection))


def test_repo_settings_and_permission_drift_is_corrected(gitea, gitea_params):
    gitea.orgs["gauntlet"] = {"visibility": "private"}
    gitea.add_user("argocd", "argocd-password-123456")
    gitea.add_user("ci", "ci-password-1234567890")
    gitea_repo.run(repo_params(gitea_params))
    gitea.repos[("gauntlet", "gitops")].update(private=False, collaborators={"argocd": "write"})
    result = gitea_repo.run(repo_params(gitea_params), check_mode=True)
    assert result["updated"] == ["private"] and result["collaborators_changed"] == ["argocd", "ci"]
    assert gitea.repos[("gauntlet", "gitops")]["private"] is False
    gitea_repo.run(repo_params(gitea_params))
    assert gitea.repos[("gauntlet", "gitops")]["private"] is True
    assert gitea.repos[("gauntlet", "gitops")]["collaborators"] == {"argocd": "read", "ci": "write"}


def test_repo_collaborator_that_does_not_exist_fails_with_the_reason(gitea, gitea_params):
    gitea.orgs["gauntlet"] = {"visibility": "private"}
    with pytest.raises(ApiError, match="user does not exist"):
        gitea_repo.run(repo_params(gitea_params, collaborators=[{"user": "ghost", "permission": "read"}]))


# --- gitea_oauth_app -------------------------------------------------------------------------
def oauth_params(gitea_params, tmp_path, **changes):
    base = gitea_params(
        name="drone",
        redirect_uris=["https://drone.local/login"],
        confidential_client=True,
        client_id_file=str(tmp_path / "creds" / "drone" / "gitea-client-id"),
        client_secret_file=str(tmp_path / "creds" / "drone" / "gitea-client-secret"),
    )
    base.update(changes)
    return base


def stored(tmp_path, name):
    path = tmp_path / "creds" / "drone" / name
    return path.read_text().strip(), path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777


def test_oauth_app_created_and_stored_privately(gitea, gitea_params, tmp_path):
    result = gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    assert result["changed"] and result["action"] == "created"
    (app,) = gitea.apps.values()
    assert stored(tmp_path, "gitea-client-id") == (app["client_id"], 0o600, 0o700)
    assert stored(tmp_path, "gitea-client-secret")[:2] == (app["client_secret"], 0o600)
    assert app["redirect_uris"] == ["https://drone.local/login"] and app["confidential_client"] is True
    assert "client_secret" not in result


def test_oauth_app_kept_when_app_and_secret_exist(gitea, gitea_params, tmp_path):
    gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    secret = stored(tmp_path, "gitea-client-secret")[0]
    result = gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    assert result["changed"] is False and result["action"] == "kept"
    assert stored(tmp_path, "gitea-client-secret")[0] == secret
    assert [m for m, p in gitea.writes() if "oauth2" in p] == ["POST"]


def test_oauth_app_secret_regenerated_when_the_stored_one_is_missing(gitea, gitea_params, tmp_path):
    gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    (tmp_path / "creds" / "drone" / "gitea-client-secret").unlink()
    (app,) = gitea.apps.values()
    old_secret = app["client_secret"]
    result = gitea_oauth_app.run(oauth_params(gitea_params, tmp_path), check_mode=True)
    assert result["action"] == "secret_regenerated"
    assert not (tmp_path / "creds" / "drone" / "gitea-client-secret").exists()
    result = gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    assert result["action"] == "secret_regenerated" and len(gitea.apps) == 1
    assert app["client_secret"] != old_secret
    assert stored(tmp_path, "gitea-client-secret")[0] == app["client_secret"]


def test_oauth_app_redirect_change_updates_and_stores_the_new_secret(gitea, gitea_params, tmp_path):
    gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    params = oauth_params(gitea_params, tmp_path, redirect_uris=["https://ci.example/login"])
    result = gitea_oauth_app.run(params)
    (app,) = gitea.apps.values()
    assert result["action"] == "updated" and app["redirect_uris"] == ["https://ci.example/login"]
    assert stored(tmp_path, "gitea-client-secret")[0] == app["client_secret"]


def test_oauth_app_stale_client_id_file_is_rewritten(gitea, gitea_params, tmp_path):
    gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    id_file = tmp_path / "creds" / "drone" / "gitea-client-id"
    id_file.write_text("someone-elses-id\n")
    assert gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))["action"] == "secret_regenerated"
    assert id_file.read_text().strip() == next(iter(gitea.apps.values()))["client_id"]


def test_oauth_app_duplicates_are_reported(gitea, gitea_params, tmp_path):
    gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    app = next(iter(gitea.apps.values()))
    gitea.apps[999] = dict(app, client_id="other")
    with pytest.raises(ApiError, match="2 OAuth2 applications named 'drone'"):
        gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))


def test_oauth_app_refuses_a_readable_secret_file(gitea, gitea_params, tmp_path):
    gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))
    os.chmod(tmp_path / "creds" / "drone" / "gitea-client-secret", 0o644)
    from ansible_collections.gauntlet.platform.plugins.module_utils.services.issued_secret import SecretFileError

    with pytest.raises(SecretFileError, match="chmod 600"):
        gitea_oauth_app.run(oauth_params(gitea_params, tmp_path))


# --- gitea_token ---------------------------------------------------------------------------
def token_params(gitea, tmp_path, **changes):
    base = {"url": gitea.url, "username": "ci", "password": "ci-password-1234567890", "ca_path": None,
            "timeout": 10, "name": "drone-gitops", "scopes": ["write:repository"],
            "token_file": str(tmp_path / "gitea" / "ci-token")}  # fmt: skip
    base.update(changes)
    return base


def test_token_created_kept_and_replaced_when_the_file_is_stale(gitea, tmp_path):
    gitea.add_user("ci", "ci-password-1234567890")
    assert gitea_token.run(token_params(gitea, tmp_path)) == {"changed": True, "action": "created"}
    (token,) = gitea.tokens["ci"]
    token_file = tmp_path / "gitea" / "ci-token"
    assert token_file.read_text().strip() == token["sha1"] and token_file.stat().st_mode & 0o777 == 0o600
    assert gitea_token.run(token_params(gitea, tmp_path)) == {"changed": False, "action": "kept"}
    token_file.write_text("0" * 40 + "\n")
    assert gitea_token.run(token_params(gitea, tmp_path), check_mode=True)["action"] == "replaced"
    assert gitea.tokens["ci"] == [token]
    assert gitea_token.run(token_params(gitea, tmp_path))["action"] == "replaced"
    (new,) = gitea.tokens["ci"]
    assert new["sha1"] != token["sha1"] and token_file.read_text().strip() == new["sha1"]


def test_token_scope_change_replaces_it(gitea, tmp_path):
    gitea.add_user("ci", "ci-password-1234567890")
    gitea_token.run(token_params(gitea, tmp_path))
    result = gitea_token.run(token_params(gitea, tmp_path, scopes=["write:repository", "read:user"]))
    assert result["action"] == "replaced" and gitea.tokens["ci"][0]["scopes"] == ["write:repository", "read:user"]


# --- through Ansible -------------------------------------------------------------------------
def test_oauth_app_through_ansible_hides_the_passwords(gitea, tmp_path):
    args = {
        "url": gitea.url,
        "username": "root",
        "password": "root-password-0123456789",
        "name": "drone",
        "redirect_uris": ["https://drone.local/login"],
        "client_id_file": str(tmp_path / "id"),
        "client_secret_file": str(tmp_path / "secret"),
    }
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run(
        ["ansible", "localhost", "-m", "gauntlet.platform.gitea_oauth_app", "-a", json.dumps(args), "-o"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    secret = (tmp_path / "secret").read_text().strip()
    assert '"action": "created"' in done.stdout
    assert secret not in done.stdout and "root-password-0123456789" not in done.stdout


# --- resolve: the modules work from a controller that does not resolve the name -------------
def test_resolve_reaches_gitea_by_name_without_the_resolver(gitea, gitea_params, monkeypatch):
    import socket
    import urllib.parse

    asked = []
    real = socket.getaddrinfo

    def resolver_double(host, *args, **kwargs):  # the controller's resolver knows no *.invalid name
        if isinstance(host, str) and host.endswith(".invalid"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver_double)
    port = urllib.parse.urlsplit(gitea.url).port
    url = f"http://gitea.gauntlet-test.invalid:{port}"
    with pytest.raises(ApiError, match="cannot connect"):
        gitea_org.run(gitea_params(url=url, name="gauntlet", visibility="private"))
    assert asked == ["gitea.gauntlet-test.invalid"]
    params = gitea_params(url=url, name="gauntlet", visibility="private",
                          resolve={"gitea.gauntlet-test.invalid": "127.0.0.1"})  # fmt: skip
    assert gitea_org.run(params)["created"] is True
    assert gitea.orgs["gauntlet"] == {"visibility": "private"}
    assert asked == ["gitea.gauntlet-test.invalid"]


# --- gitea_webhook -------------------------------------------------------------------------
HOOK_URL = "http://argocd-server.argocd.svc/api/webhook"


def webhook_params(gitea, gitea_params, tmp_path, **changes):
    gitea.repos[("gauntlet", "gitops")] = {"description": "", "private": True, "default_branch": "main",
                                           "collaborators": {}}  # fmt: skip
    wanted = {"owner": "gauntlet", "repo": "gitops", "hook_url": HOOK_URL, "secret": "webhook-secret-0123456789",
              "events": ["push"], "branch_filter": "main", "state_file": str(tmp_path / "gitea" / "hook-state")}  # fmt: skip
    return gitea_params(**{**wanted, **changes})


def test_webhook_created_then_kept(gitea, gitea_params, tmp_path):
    params = webhook_params(gitea, gitea_params, tmp_path)
    result = gitea_webhook.run(params)
    assert result["changed"] and result["action"] == "created"
    ((hook_id, hook),) = gitea.hooks[("gauntlet", "gitops")].items()
    assert hook == {"type": "gitea", "url": HOOK_URL, "content_type": "json", "secret": "webhook-secret-0123456789",
                    "events": ["push"], "branch_filter": "main", "active": True}  # fmt: skip
    state = tmp_path / "gitea" / "hook-state"
    assert oct(state.stat().st_mode & 0o777) == "0o600" and "webhook-secret" not in state.read_text()
    gitea.requests.clear()
    assert gitea_webhook.run(params) == {"changed": False, "action": "kept", "id": hook_id}
    assert gitea.writes() == []


def test_webhook_check_mode_changes_nothing(gitea, gitea_params, tmp_path):
    params = webhook_params(gitea, gitea_params, tmp_path)
    assert gitea_webhook.run(params, check_mode=True) == {"changed": True, "action": "created"}
    assert gitea.writes() == [] and not (tmp_path / "gitea" / "hook-state").exists()
    gitea_webhook.run(params)
    gitea.requests.clear()
    changed = dict(params, secret="another-secret-0123456789")
    assert gitea_webhook.run(changed, check_mode=True)["action"] == "updated"
    assert gitea.writes() == []
    assert next(iter(gitea.hooks[("gauntlet", "gitops")].values()))["secret"] == "webhook-secret-0123456789"


def test_webhook_secret_and_drift_are_corrected(gitea, gitea_params, tmp_path):
    params = webhook_params(gitea, gitea_params, tmp_path)
    gitea_webhook.run(params)
    (hook,) = gitea.hooks[("gauntlet", "gitops")].values()
    # A new secret (credential deleted and generated again) is sent again.
    assert gitea_webhook.run(dict(params, secret="rotated-secret-0123456789"))["action"] == "updated"
    assert hook["secret"] == "rotated-secret-0123456789"
    # Changed by hand: deactivated, every branch, more events.
    hook.update(active=False, branch_filter="*", events=["push", "create"])
    assert gitea_webhook.run(dict(params, secret="rotated-secret-0123456789"))["action"] == "updated"
    assert (hook["active"], hook["branch_filter"], hook["events"]) == (True, "main", ["push"])
    # A lost state file: the secret cannot be read back from Gitea, so it is sent again.
    (tmp_path / "gitea" / "hook-state").unlink()
    assert gitea_webhook.run(dict(params, secret="rotated-secret-0123456789"))["action"] == "updated"
    assert gitea_webhook.run(dict(params, secret="rotated-secret-0123456789"))["action"] == "kept"


def test_webhook_duplicates_are_reduced_to_one(gitea, gitea_params, tmp_path):
    params = webhook_params(gitea, gitea_params, tmp_path)
    gitea_webhook.run(params)
    gitea.hooks[("gauntlet", "gitops")][999] = dict(next(iter(gitea.hooks[("gauntlet", "gitops")].values())))
    assert gitea_webhook.run(params)["action"] == "updated"
    assert len(gitea.hooks[("gauntlet", "gitops")]) == 1


def test_webhook_of_another_type_fails_with_the_remedy(gitea, gitea_params, tmp_path):
    params = webhook_params(gitea, gitea_params, tmp_path)
    slack = {"type": "slack", "url": HOOK_URL, "content_type": "json", "secret": "", "events": ["push"]}
    gitea.hooks[("gauntlet", "gitops")] = {7: {**slack, "branch_filter": "", "active": True}}
    with pytest.raises(ApiError, match=r"type 'slack'.*delete it"):
        gitea_webhook.run(params)


def test_webhook_needs_repository_admin(gitea, gitea_params, tmp_path):
    params = webhook_params(gitea, gitea_params, tmp_path)
    gitea.add_user("reader", "reader-password-0123")
    gitea.repos[("gauntlet", "gitops")]["collaborators"]["reader"] = "read"
    with pytest.raises(ApiError, match="403"):
        gitea_webhook.run(dict(params, username="reader", password="reader-password-0123"))


def test_webhook_empty_secret_is_refused(gitea, gitea_params, tmp_path):
    with pytest.raises(ApiError, match="secret is empty"):
        gitea_webhook.run(webhook_params(gitea, gitea_params, tmp_path, secret=""))


def test_what_gitea_then_sends_is_accepted_by_argo_cd_only_with_the_same_secret(gitea, gitea_params, tmp_path):
    """The hook the module makes, delivered as Gitea signs it, through Argo CD's check
    (tests/argocd_webhook.py): accepted with the secret argocd-secret holds, 401 with another."""
    gitea_webhook.run(webhook_params(gitea, gitea_params, tmp_path))
    ((url, headers, body),) = gitea.push_delivery(
        "gauntlet", "gitops", "main", "a" * 40, ["task-api/kustomization.yaml"]
    )
    path = url.split("argocd-server.argocd.svc", 1)[1]
    payload = argocd_webhook.parse("POST", path, headers, body, "webhook-secret-0123456789")
    app = {"metadata": {"name": "task-api"},
           "spec": {"source": {"repoURL": "https://gitea.local/gauntlet/gitops.git", "targetRevision": "HEAD"}}}  # fmt: skip
    assert argocd_webhook.refreshed(payload, [app]) == ["task-api"]
    with pytest.raises(argocd_webhook.Refused) as refused:
        argocd_webhook.parse("POST", path, headers, body, "another-secret")
    assert refused.value.status == 401
    # Pushes of other branches are not delivered at all (branch_filter main).
    assert gitea.push_delivery("gauntlet", "gitops", "feature", "b" * 40, []) == []
