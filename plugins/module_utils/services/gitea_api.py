# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Idempotent operations on the Gitea REST API (/api/v1), as one account with HTTP basic auth.

Every ``ensure_*`` function reads first, changes only what differs, and returns a result
dict with ``changed``; with ``check_mode`` it reports what it would change and changes
nothing (no request other than GET, no secret file written).

Secrets Gitea issues (OAuth2 client secrets, access tokens) are shown by Gitea once; they
are written to files in the credentials folder (issued_secret) and never returned.

Stdlib only.
"""

from __future__ import annotations

import hashlib
import urllib.parse

from ansible_collections.gauntlet.platform.plugins.module_utils.services.issued_secret import read_secret, write_secret
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import (
    ApiError,
    HttpClient,
    basic_auth,
    error_detail,
)

PERMISSIONS = ("read", "write", "admin")
# Connection options of every gitea_* module (doc fragment gauntlet.platform.service_api.GITEA).
GITEA_ARGSPEC = {
    "url": {"type": "str", "required": True},
    "username": {"type": "str", "required": True},
    "password": {"type": "str", "required": True, "no_log": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 30},
    "resolve": {"type": "dict", "default": {}},
}
VISIBILITIES = ("public", "limited", "private")


def _q(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")


def client_from_params(params: dict) -> GiteaClient:
    return GiteaClient(
        params["url"],
        params["username"],
        params["password"],
        params["ca_path"],
        params["timeout"],
        resolve=params.get("resolve"),
    )


class GiteaClient:
    """The Gitea API at ``url`` as ``username``."""

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        ca_path: str | None = None,
        timeout: float = 30.0,
        resolve: dict | None = None,
    ):
        self.url = url.rstrip("/")
        self.username = username
        self.password = password
        self.ca_path = ca_path
        self.timeout = timeout
        self.http = HttpClient(ca_path=ca_path, timeout=timeout, resolve=resolve)

    def call(self, method: str, path: str, body=None, ok=(200,), auth: tuple[str, str] | None = None):
        """One API request; returns the response for a status in ``ok``, raises ApiError otherwise."""
        user, password = auth or (self.username, self.password)
        response = self.http.request(
            method, f"{self.url}/api/v1{path}", json_body=body, headers=basic_auth(user, password)
        )
        if response.status in ok:
            return response
        if response.status == 401:
            raise ApiError(
                f"{method} /api/v1{path}: Gitea refused the credentials of {user!r} (401); "
                "check the password credential and that the account exists",
                401,
            )
        raise ApiError(
            f"{method} /api/v1{path}: Gitea answered {response.status}: {error_detail(response)}", response.status
        )

    def get(self, path: str, auth=None):
        """The JSON of a GET, or None on 404."""
        response = self.call("GET", path, ok=(200, 404), auth=auth)
        return None if response.status == 404 else response.json()

    def get_all(self, path: str, auth=None) -> list:
        """Every item of a paged list endpoint."""
        items, page = [], 1
        separator = "&" if "?" in path else "?"
        while True:
            batch = self.call("GET", f"{path}{separator}page={page}&limit=50", auth=auth).json() or []
            items.extend(batch)
            if len(batch) < 50:
                return items
            page += 1

    def login_works(self, username: str, password: str) -> bool:
        """Whether ``username`` can log in to the API with ``password``."""
        response = self.http.request("GET", f"{self.url}/api/v1/user", headers=basic_auth(username, password))
        if response.status == 200:
            return True
        if response.status in (401, 403):
            return False
        raise ApiError(f"GET /api/v1/user: Gitea answered {response.status}: {error_detail(response)}", response.status)


def ensure_user(client: GiteaClient, username: str, email: str, password: str, check_mode: bool = False) -> dict:
    """A regular (non-admin) user that logs in with ``password``; the password is reset when it differs."""
    result = {"changed": False, "created": False, "password_updated": False}
    existing = client.get(f"/users/{_q(username)}")
    if existing is None:
        result.update(changed=True, created=True)
        if not check_mode:
            client.call(
                "POST",
                "/admin/users",
                {
                    "username": username,
                    "email": email,
                    "password": password,
                    "must_change_password": False,
                    "send_notify": False,
                    "visibility": "private",
                },
                ok=(201,),
            )
        return result
    if not client.login_works(username, password):
        result.update(changed=True, password_updated=True)
        if not check_mode:
            client.call(
                "PATCH",
                f"/admin/users/{_q(username)}",
                {"login_name": username, "source_id": 0, "password": password, "must_change_password": False},
            )
    return result


def ensure_org(client: GiteaClient, name: str, visibility: str = "private", check_mode: bool = False) -> dict:
    if visibility not in VISIBILITIES:
        raise ApiError(f"visibility {visibility!r} must be one of {', '.join(VISIBILITIES)}")
    existing = client.get(f"/orgs/{_q(name)}")
    if existing is None:
        if not check_mode:
            client.call("POST", "/orgs", {"username": name, "visibility": visibility}, ok=(201,))
        return {"changed": True, "created": True, "before": None, "after": {"visibility": visibility}}
    before = {"visibility": existing.get("visibility")}
    if before["visibility"] == visibility:
        return {"changed": False, "created": False, "before": before, "after": before}
    if not check_mode:
        client.call("PATCH", f"/orgs/{_q(name)}", {"visibility": visibility})
    return {"changed": True, "created": False, "before": before, "after": {"visibility": visibility}}


def ensure_repo(
    client: GiteaClient,
    owner: str,
    name: str,
    description: str = "",
    private: bool = True,
    default_branch: str = "main",
    collaborators: list[dict] | None = None,
    branch_protection: dict | None = None,
    check_mode: bool = False,
) -> dict:
    """A repository of organisation ``owner`` with the given collaborators (others are left alone)
    and, when given, a protection rule for one branch."""
    path = f"/repos/{_q(owner)}/{_q(name)}"
    result = {"changed": False, "created": False, "updated": [], "collaborators_changed": [], "protection": "none"}
    wanted = {"description": description, "private": private}
    existing = client.get(path)
    if existing is None:
        result.update(changed=True, created=True)
        if not check_mode:
            client.call(
                "POST",
                f"/orgs/{_q(owner)}/repos",
                {**wanted, "name": name, "default_branch": default_branch, "auto_init": False},
                ok=(201,),
            )
    else:
        differ = {key: value for key, value in wanted.items() if existing.get(key) != value}
        if differ:
            result.update(changed=True, updated=sorted(differ))
            if not check_mode:
                client.call("PATCH", path, differ)
    for entry in collaborators or []:
        user, permission = entry["user"], entry["permission"]
        if permission not in PERMISSIONS:
            raise ApiError(f"collaborator {user}: permission {permission!r} must be one of {', '.join(PERMISSIONS)}")
        current = None
        if not result["created"]:
            is_collaborator = client.call("GET", f"{path}/collaborators/{_q(user)}", ok=(204, 404)).status == 204
            if is_collaborator:
                current = (client.get(f"{path}/collaborators/{_q(user)}/permission") or {}).get("permission")
        if current != permission:
            result["changed"] = True
            result["collaborators_changed"].append(user)
            if not check_mode:
                client.call("PUT", f"{path}/collaborators/{_q(user)}", {"permission": permission}, ok=(204,))
    if branch_protection:
        result["protection"] = _ensure_branch_protection(client, path, branch_protection, result["created"], check_mode)
        result["changed"] = result["changed"] or result["protection"] != "kept"
    return result


def _protection_wanted(rule: dict) -> dict:
    """Gitea's CreateBranchProtectionOption fields (go-gitea/gitea modules/structs/repo_branch.go) the role
    owns: pushes only by the listed accounts (no deploy keys), never a force push."""
    users = rule.get("push_users") or []
    if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
        raise ApiError("branch_protection.push_users must be a list of account names")
    return {
        "enable_push": True,
        "enable_push_whitelist": True,
        "push_whitelist_usernames": sorted(set(users)),
        "push_whitelist_deploy_keys": False,
        "enable_force_push": False,
        "enable_force_push_allowlist": False,
    }


def _ensure_branch_protection(client: GiteaClient, path: str, rule: dict, repo_created: bool, check_mode: bool) -> str:
    """Create or correct the rule named after ``rule['branch']``; ``kept``, ``created`` or ``updated``."""
    branch = rule.get("branch")
    if not isinstance(branch, str) or not branch:
        raise ApiError("branch_protection.branch must name a branch (for example main)")
    wanted = _protection_wanted(rule)
    existing = None if repo_created else client.get(f"{path}/branch_protections/{_q(branch)}")
    if existing is None:
        if not check_mode:
            # branch_name is the deprecated twin of rule_name; both name the rule.
            body = {"rule_name": branch, "branch_name": branch, **wanted}
            client.call("POST", f"{path}/branch_protections", body, ok=(201,))
        return "created"
    differ = {}
    for key, value in wanted.items():
        current = existing.get(key)
        if key == "push_whitelist_usernames":
            current = sorted(current or [])
        if current != value:
            differ[key] = value
    if not differ:
        return "kept"
    if not check_mode:
        client.call("PATCH", f"{path}/branch_protections/{_q(branch)}", differ)
    return "updated"


def ensure_oauth_app(
    client: GiteaClient,
    name: str,
    redirect_uris: list[str],
    client_id_file: str,
    client_secret_file: str,
    confidential: bool = True,
    check_mode: bool = False,
) -> dict:
    """An OAuth2 application of the client's account whose id and secret are in the two files.

    Gitea shows a client secret only when it creates or regenerates it. The application
    is kept when it exists with the wanted settings, the stored client id is its id and
    the stored secret exists; otherwise it is created, or updated through PATCH (which
    regenerates the secret), and both files are written.
    """
    apps = [app for app in client.get_all("/user/applications/oauth2") if app.get("name") == name]
    if len(apps) > 1:
        ids = ", ".join(str(app.get("id")) for app in apps)
        raise ApiError(
            f"{client.username} has {len(apps)} OAuth2 applications named {name!r} (ids {ids}); delete the extra ones"
        )
    body = {"name": name, "redirect_uris": list(redirect_uris), "confidential_client": confidential}
    stored_id = read_secret(client_id_file)
    stored_secret = read_secret(client_secret_file)
    if not apps:
        action = "created"
    else:
        app = apps[0]
        settings_ok = sorted(app.get("redirect_uris") or []) == sorted(redirect_uris) and bool(
            app.get("confidential_client")
        ) == bool(confidential)
        if settings_ok and stored_id == app.get("client_id") and stored_secret:
            return {"changed": False, "action": "kept", "client_id": app.get("client_id"), "id": app.get("id")}
        action = "updated" if not settings_ok else "secret_regenerated"
    if check_mode:
        return {"changed": True, "action": action, "client_id": apps[0].get("client_id") if apps else None}
    if apps:
        answer = client.call("PATCH", f"/user/applications/oauth2/{apps[0]['id']}", body).json()
    else:
        answer = client.call("POST", "/user/applications/oauth2", body, ok=(201,)).json()
    if not answer or not answer.get("client_id") or not answer.get("client_secret"):
        raise ApiError(f"Gitea did not return the client id and secret of OAuth2 application {name!r}")
    write_secret(client_id_file, answer["client_id"])
    write_secret(client_secret_file, answer["client_secret"])
    return {"changed": True, "action": action, "client_id": answer["client_id"], "id": answer.get("id")}


def ensure_token(
    client: GiteaClient,
    username: str,
    password: str,
    name: str,
    scopes: list[str],
    token_file: str,
    check_mode: bool = False,
) -> dict:
    """An access token ``name`` of ``username`` whose value is in ``token_file``.

    Token endpoints take the token owner's own basic auth. The token is kept when it
    exists with the wanted scopes and the file's value ends in Gitea's
    ``token_last_eight``; otherwise it is deleted, created again and written.
    """
    auth = (username, password)
    base = f"/users/{_q(username)}/tokens"
    tokens = [token for token in client.get_all(base, auth=auth) if token.get("name") == name]
    stored = read_secret(token_file)
    if tokens:
        token = tokens[0]
        same_scopes = sorted(token.get("scopes") or []) == sorted(scopes)
        if same_scopes and stored and stored.endswith(token.get("token_last_eight") or "\0"):
            return {"changed": False, "action": "kept"}
        action = "replaced"
    else:
        action = "created"
    if check_mode:
        return {"changed": True, "action": action}
    for token in tokens:
        client.call("DELETE", f"{base}/{token['id']}", ok=(204,), auth=auth)
    answer = client.call("POST", base, {"name": name, "scopes": list(scopes)}, ok=(201,), auth=auth).json() or {}
    if not answer.get("sha1"):
        raise ApiError(f"Gitea did not return the value of the new token {name!r} of {username}")
    write_secret(token_file, answer["sha1"])
    return {"changed": True, "action": action}


def _secret_mark(hook_id, secret: str) -> str:
    """What the state file records: the hook's id and a sha256 of the secret it was given."""
    return f"{hook_id} {hashlib.sha256(secret.encode('utf-8')).hexdigest()}"


def ensure_webhook(
    client: GiteaClient,
    owner: str,
    repo: str,
    hook_url: str,
    secret: str,
    state_file: str,
    events: list[str],
    branch_filter: str = "",
    check_mode: bool = False,
) -> dict:
    """A ``gitea``-type JSON webhook of ``owner/repo`` to ``hook_url``, signed with ``secret``.

    Gitea API v1 (routers/api/v1/api.go, group ``/repos/{owner}/{repo}/hooks``, repository
    admins only): GET lists, POST creates (CreateHookOption), PATCH ``/{id}`` edits
    (EditHookOption). Gitea never returns a hook's secret (services/webhook/general.go
    ToHook puts only ``url`` and ``content_type`` into ``config``), so whether the hook holds
    the current secret is known from ``state_file``: ``<hook id> <sha256 of the secret>``,
    written when the secret was last sent. The hook is found by its URL; more than one
    hook to that URL is reduced to one.
    """
    base = f"/repos/{_q(owner)}/{_q(repo)}/hooks"
    hooks = [h for h in client.get_all(base) if (h.get("config") or {}).get("url") == hook_url]
    config = {"url": hook_url, "content_type": "json", "http_method": "post", "secret": secret}
    wanted = {"events": sorted(events), "branch_filter": branch_filter, "active": True}
    if not hooks:
        if check_mode:
            return {"changed": True, "action": "created"}
        answer = client.call("POST", base, {"type": "gitea", "config": config, **wanted}, ok=(201,)).json() or {}
        if not answer.get("id"):
            raise ApiError(f"Gitea did not return the id of the new webhook of {owner}/{repo} to {hook_url}")
        write_secret(state_file, _secret_mark(answer["id"], secret))
        return {"changed": True, "action": "created", "id": answer["id"]}
    hook, extra = hooks[0], hooks[1:]
    if hook.get("type") != "gitea":
        raise ApiError(
            f"the webhook {hook['id']} of {owner}/{repo} to {hook_url} is of type {hook.get('type')!r}, not 'gitea'; "
            "delete it in the repository's settings (Webhooks) and run again"
        )
    have = {
        "events": sorted(hook.get("events") or []),
        "branch_filter": hook.get("branch_filter") or "",
        "active": bool(hook.get("active")),
    }
    same_secret = read_secret(state_file) == _secret_mark(hook["id"], secret)
    same_config = (hook.get("config") or {}).get("content_type") == "json"
    if have == wanted and same_secret and same_config and not extra:
        return {"changed": False, "action": "kept", "id": hook["id"]}
    if check_mode:
        return {"changed": True, "action": "updated", "id": hook["id"]}
    client.call("PATCH", f"{base}/{hook['id']}", {"config": config, **wanted})
    write_secret(state_file, _secret_mark(hook["id"], secret))
    for duplicate in extra:
        client.call("DELETE", f"{base}/{duplicate['id']}", ok=(204,))
    return {"changed": True, "action": "updated", "id": hook["id"]}
