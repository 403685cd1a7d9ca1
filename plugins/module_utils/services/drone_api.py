# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Idempotent operations on the Drone API, and the OAuth2 login that links a Drone account to Gitea.

Drone keeps, per user, the Gitea OAuth2 token it got when that user logged in through
the browser; repository sync and activation call Gitea with that token. An account made
by DRONE_USER_CREATE has an API token but no Gitea token until it logs in once (and
machine accounts may never log in), so ``link_account`` performs that login the way a
browser does: log in to Gitea's web form, follow Drone's /login redirect to Gitea's
authorize endpoint, grant the application if Gitea asks, and hand the code back to
Drone. Cookies stay per service; passwords go in form bodies only.

Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import (
    ApiError,
    HttpClient,
    error_detail,
    html_forms,
    origin_of,
)

# Repository settings the drone_repo module may manage (Drone's repository PATCH fields).
REPO_SETTINGS = (
    "config_path",
    "timeout",
    "visibility",
    "protected",
    "trusted",
    "ignore_forks",
    "ignore_pull_requests",
    "auto_cancel_pull_requests",
    "auto_cancel_pushes",
    "auto_cancel_running",
    "throttle",
)
MAX_REDIRECTS = 10
# Connection options of every drone_* module (doc fragment gauntlet.platform.service_api.DRONE).
DRONE_ARGSPEC = {
    "url": {"type": "str", "required": True},
    "token": {"type": "str", "required": True, "no_log": True},
    "ca_path": {"type": "path"},
    "timeout": {"type": "int", "default": 60},
    "resolve": {"type": "dict", "default": {}},
    "repo": {"type": "str", "required": True},
}


def _q(value: str) -> str:
    return urllib.parse.quote(str(value), safe="")


def split_repo(slug: str) -> tuple[str, str]:
    owner, sep, name = (slug or "").partition("/")
    if not sep or not owner or not name or "/" in name:
        raise ApiError(f"repo {slug!r} must be owner/name")
    return owner, name


class DroneClient:
    """The Drone API at ``url`` with a user's API token."""

    def __init__(
        self, url: str, token: str, ca_path: str | None = None, timeout: float = 60.0, resolve: dict | None = None
    ):
        self.url = url.rstrip("/")
        self.token = token
        self.http = HttpClient(ca_path=ca_path, timeout=timeout, resolve=resolve)

    def call(self, method: str, path: str, body=None, ok=(200,)):
        response = self.http.request(
            method, f"{self.url}{path}", json_body=body, headers={"Authorization": f"Bearer {self.token}"}
        )
        if response.status in ok:
            return response
        where = f"{method} {path.split('?', 1)[0]}"
        if response.status == 401:
            raise ApiError(
                f"{where}: Drone refused the API token (401); it must be the token of DRONE_USER_CREATE "
                "(credential drone/admin-token) and the server must have started with it",
                401,
            )
        raise ApiError(f"{where}: Drone answered {response.status}: {error_detail(response)}", response.status)

    def user(self) -> dict:
        return self.call("GET", "/api/user").json() or {}

    def sync(self) -> list:
        return self.call("POST", "/api/user/repos?async=false").json() or []

    def repo(self, owner: str, name: str) -> dict | None:
        response = self.call("GET", f"/api/repos/{_q(owner)}/{_q(name)}", ok=(200, 404))
        return None if response.status == 404 else response.json()


def client_from_params(params: dict) -> DroneClient:
    """The client that a drone_* module's connection options (DRONE_ARGSPEC) describe."""
    return DroneClient(params["url"], params["token"], params["ca_path"], params["timeout"], params.get("resolve"))


def link_account(
    drone_url: str,
    gitea_url: str,
    username: str,
    password: str,
    ca_path: str | None = None,
    timeout: float = 60.0,
    resolve: dict | None = None,
) -> None:
    """Log ``username`` in to Drone through Gitea's OAuth2 flow, as a browser would."""
    http = HttpClient(ca_path=ca_path, timeout=timeout, resolve=resolve)
    gitea = gitea_url.rstrip("/")
    drone = drone_url.rstrip("/")
    gitea_origin = origin_of(gitea)

    # 1. A Gitea web session.
    page = http.request("GET", f"{gitea}/user/login")
    if page.status != 200:
        raise ApiError(f"GET {gitea}/user/login answered {page.status}; is Gitea up?", page.status)
    forms = [f for f in html_forms(page.text()) if f["method"] == "post"]
    form = next((f for f in forms if "user_name" in f["fields"] or "/user/login" in f["action"]), None)
    fields = dict(form["fields"]) if form else {}
    fields.update({"user_name": username, "password": password})
    fields.pop("remember", None)
    action = urllib.parse.urljoin(page.url, form["action"]) if form and form["action"] else f"{gitea}/user/login"
    answer = http.request("POST", action, form=fields, headers={"Origin": gitea, "Referer": page.url})
    if answer.status not in (301, 302, 303) or "/user/login" in (answer.location or ""):
        raise ApiError(
            f"Gitea web login of {username!r} failed (HTTP {answer.status}); check the password credential and "
            "that the account is active and has no second factor"
        )

    # 2. Drone's login redirects to Gitea's authorize endpoint; follow it to Drone's callback.
    response = http.request("GET", f"{drone}/login")
    for _unused in range(MAX_REDIRECTS):
        target = response.location
        if response.status in (301, 302, 303, 307) and target:
            if target.startswith(f"{drone}/login/error") or "/login/error" in urllib.parse.urlsplit(target).path:
                message = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get("message", ["unknown"])[0]
                raise ApiError(f"Drone refused the login of {username!r}: {message}")
            if origin_of(target) == origin_of(drone) and urllib.parse.urlsplit(target).path in ("", "/"):
                return  # Drone set its session: the account is linked
            if origin_of(target) == gitea_origin and urllib.parse.urlsplit(target).path.startswith("/user/login"):
                raise ApiError(
                    "Gitea asked for a login again during the OAuth2 authorization; the web session was lost"
                )
            response = http.request("GET", target)
            continue
        if response.status == 200 and origin_of(response.url) == gitea_origin:
            # Gitea's consent page: grant the application.
            grant = next((f for f in html_forms(response.text()) if "/login/oauth/grant" in f["action"]), None)
            if grant is None:
                raise ApiError(
                    "Gitea showed a page without the OAuth2 grant form during the authorization "
                    f"(HTTP 200 at {urllib.parse.urlsplit(response.url).path})"
                )
            fields = dict(grant["fields"])
            fields["granted"] = "true"
            response = http.request(
                "POST",
                urllib.parse.urljoin(response.url, grant["action"]),
                form=fields,
                headers={"Origin": gitea, "Referer": response.url},
            )
            continue
        raise ApiError(
            f"unexpected HTTP {response.status} at {urllib.parse.urlsplit(response.url).path} during the OAuth2 login "
            f"of {username!r}: {error_detail(response)}"
        )
    raise ApiError(f"too many redirects during the OAuth2 login of {username!r}")


def ensure_repo(
    client: DroneClient,
    owner: str,
    name: str,
    settings: dict | None = None,
    link=None,
    build_on_activation: str | None = None,
    check_mode: bool = False,
) -> dict:
    """Repository ``owner/name`` active in Drone with ``settings``.

    ``link`` is a callable that links the token's account to Gitea (``link_account`` with
    its arguments); it runs when the account never logged in, or when a sync fails.
    """
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(REPO_SETTINGS))
    if unknown:
        raise ApiError(f"unknown repository settings {unknown}; known: {', '.join(REPO_SETTINGS)}")
    result = {"changed": False, "linked": False, "activated": False, "updated": [], "build": None}
    user = client.user()
    repo = client.repo(owner, name)
    if repo is None or not repo.get("active"):
        result.update(changed=True, activated=True)
        if check_mode:
            result["updated"] = sorted(settings)
            return result
        if link is not None and not user.get("last_login"):
            link()
            result["linked"] = True
        try:
            client.sync()
        except ApiError:
            if link is None or result["linked"]:
                raise
            link()
            result["linked"] = True
            client.sync()
        if client.repo(owner, name) is None:
            raise ApiError(
                f"{owner}/{name} is not visible to Drone user {user.get('login')!r} after a sync; check that it exists "
                "in Gitea, that this user has admin permission on it, and DRONE_REPOSITORY_FILTER"
            )
        repo = client.call("POST", f"/api/repos/{_q(owner)}/{_q(name)}").json() or {}
    differ = {key: value for key, value in settings.items() if repo.get(key) != value}
    if differ:
        result["changed"] = True
        result["updated"] = sorted(differ)
        if not check_mode:
            client.call("PATCH", f"/api/repos/{_q(owner)}/{_q(name)}", differ)
    if result["activated"] and build_on_activation and not check_mode:
        build = client.call("POST", f"/api/repos/{_q(owner)}/{_q(name)}/builds?branch={_q(build_on_activation)}").json()
        result["build"] = (build or {}).get("number")
    return result


def _fingerprint(repo: str, name: str, value: str) -> str:
    return hashlib.sha256(f"{repo}\0{name}\0{value}".encode()).hexdigest()


def ensure_secrets(
    client: DroneClient,
    owner: str,
    name: str,
    secrets: dict,
    fingerprint_file: str,
    pull_request: bool = False,
    check_mode: bool = False,
    absent=(),
    pull_request_names=(),
) -> dict:
    """Repository secrets with the given values, and none of the names in ``absent``.

    Drone never returns secret values, so the sha256 of each value written is kept in
    ``fingerprint_file`` (mode 0600): a secret is written when it is missing in Drone,
    when its fingerprint is unknown, or when the value changed since it was written.
    Secrets named in ``absent`` are deleted (and forgotten in the fingerprint file); other
    secrets of the repository are left alone. A secret reaches pull-request builds when
    ``pull_request`` is set or it is named in ``pull_request_names``; a flag that differs
    from Drone's is written again.
    """
    slug = f"{owner}/{name}"
    both = sorted(set(secrets) & set(absent))
    if both:
        raise ApiError(f"secrets {', '.join(both)} are both wanted and absent")
    base = f"/api/repos/{_q(owner)}/{_q(name)}/secrets"
    existing = {item.get("name"): item for item in client.call("GET", base).json() or []}
    prints = {}
    if os.path.exists(fingerprint_file):
        try:
            with open(fingerprint_file, encoding="utf-8") as handle:
                prints = json.load(handle)
        except ValueError as exc:
            raise ApiError(f"{fingerprint_file} is not JSON; delete it to rewrite every secret once") from exc
    unknown = sorted(set(pull_request_names) - set(secrets))
    if unknown:
        raise ApiError(f"pull_request_names {', '.join(unknown)} are not among the secrets")
    created, updated = [], []
    for key in sorted(secrets):
        value = secrets[key]
        if not isinstance(value, str) or not value:
            raise ApiError(f"secret {key}: the value must be a non-empty string")
        fingerprint = _fingerprint(slug, key, value)
        for_pull_requests = pull_request or key in pull_request_names
        if key not in existing:
            created.append(key)
        elif (
            prints.get(slug, {}).get(key) != fingerprint or bool(existing[key].get("pull_request")) != for_pull_requests
        ):
            updated.append(key)
        else:
            continue
        if check_mode:
            continue
        body = {"name": key, "data": value, "pull_request": for_pull_requests}
        if key in existing:
            client.call("PATCH", f"{base}/{_q(key)}", body)
        else:
            client.call("POST", base, body)
        prints.setdefault(slug, {})[key] = fingerprint
        _write_prints(fingerprint_file, prints)
    deleted = sorted(key for key in set(absent) if key in existing)
    for key in deleted:
        if check_mode:
            continue
        # DELETE /api/repos/{owner}/{name}/secrets/{secret} (harness/drone v2.25.0 handler/api/api.go).
        client.call("DELETE", f"{base}/{_q(key)}", ok=(200, 204))
        prints.get(slug, {}).pop(key, None)
        _write_prints(fingerprint_file, prints)
    return {"changed": bool(created or updated or deleted), "created": created, "updated": updated, "deleted": deleted}


def _write_prints(fingerprint_file: str, prints: dict) -> None:
    folder = os.path.dirname(os.path.abspath(fingerprint_file))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    atomic_write(fingerprint_file, (json.dumps(prints, indent=2, sort_keys=True) + "\n").encode(), mode=0o600)
