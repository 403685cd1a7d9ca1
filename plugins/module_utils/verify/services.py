# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The verify rows of the platform's services: Drone knows the repository, Keycloak issues the
Task API's token, and an HTTP endpoint answers the expected status."""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import JwtFormatError, decode_compact
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import FAIL, OK, VerifyInputError, make_row
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import json_body, task_error

# -- Drone -----------------------------------------------------------------------------


def drone_repo_row(result, slug: str, config_path: str = "") -> dict:
    """GET /api/repos/<slug> answers the repository, active, with the expected pipeline path."""
    error = task_error(result, expect="status")
    if error:
        return make_row("drone", slug, FAIL, error)
    status = int(result["status"])
    if status == 401 or status == 403:
        return make_row(
            "drone", slug, FAIL, f"HTTP {status}: the admin token (credential drone/admin-token) was refused"
        )
    if status == 404:
        return make_row(
            "drone", slug, FAIL, "HTTP 404: Drone does not know the repository: sync and activate it (drone role)"
        )
    if status != 200:
        return make_row("drone", slug, FAIL, f"HTTP {status}")
    repo = json_body(result)
    if not isinstance(repo, dict):
        return make_row("drone", slug, FAIL, "HTTP 200 but the answer is not a JSON repository")
    problems = []
    if repo.get("active") is not True:
        problems.append("the repository is not active: pushes do not build")
    if config_path and repo.get("config_path") != config_path:
        problems.append(f"pipeline path is {repo.get('config_path')!r}, expected {config_path!r}")
    if problems:
        return make_row("drone", slug, FAIL, problems)
    detail = "active"
    if repo.get("config_path"):
        detail += f", pipeline {repo['config_path']}"
    return make_row("drone", slug, OK, detail)


# -- Keycloak and the Task API ---------------------------------------------------------


def jwt_parts(token: str) -> tuple[dict, dict]:
    """(header, claims) of a compact JWS, without verifying anything (module_utils.jwt_compact)."""
    try:
        return decode_compact(token)
    except JwtFormatError as exc:
        raise VerifyInputError(str(exc)) from exc


def keycloak_token_row(result, issuer: str, audience: str, target: str, realm_roles=None) -> dict:
    """The password grant returned a Bearer access token for the expected issuer and audience,
    holding every realm role of ``realm_roles`` (none asked when empty).

    The one judgement of a token answer: the keycloak role's own check and the verify row
    both make it (filter verify_keycloak_token).
    """
    error = task_error(result, expect="status")
    if error:
        return make_row("keycloak", target, FAIL, error)
    body = json_body(result)
    status = int(result["status"])
    if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        why = ""
        if isinstance(body, dict) and body.get("error"):
            why = f": {body['error']}{' (' + body['error_description'] + ')' if body.get('error_description') else ''}"
        hint = ""
        if isinstance(body, dict) and body.get("error") in ("invalid_grant", "invalid_client", "unauthorized_client"):
            hint = "; check the test user, its password credential and that the client allows direct access grants"
        return make_row("keycloak", target, FAIL, f"HTTP {status}, no access token{why}{hint}")
    try:
        _header, claims = jwt_parts(body["access_token"])
    except VerifyInputError as exc:
        return make_row("keycloak", target, FAIL, f"the access token is unreadable: {exc}")
    problems = []
    if str(body.get("token_type", "")).lower() != "bearer":
        problems.append(f"token_type is {body.get('token_type')!r}, expected Bearer")
    if claims.get("iss") != issuer:
        problems.append(f"issuer is {claims.get('iss')!r}, the Task API expects {issuer!r}")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        problems.append(f"audience is {aud!r}, the Task API expects {audience!r} (add an audience mapper)")
    realm_access = claims.get("realm_access")
    held = (realm_access.get("roles") if isinstance(realm_access, dict) else None) or []
    missing = [role for role in realm_roles or [] if role not in held]
    if missing:
        problems.append(f"realm roles {held!r} lack {missing!r}")
    if problems:
        return make_row("keycloak", target, FAIL, problems)
    return make_row(
        "keycloak",
        target,
        OK,
        f"access token for {claims.get('preferred_username') or claims.get('sub')}, aud {audience}",
    )


_STATUS_MEANING = {
    200: "OK",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    502: "bad gateway (the backend is down)",
    503: "unavailable (the database is down?)",
}


def http_status_row(result, check: str, target: str, expected, what: str = "") -> dict:
    """OK when the HTTP status is one of ``expected``; ``what`` says what the answer proves."""
    wanted = [int(s) for s in (expected if isinstance(expected, list | tuple) else [expected])]
    error = task_error(result, expect="status")
    if error:
        return make_row(check, target, FAIL, error)
    status = int(result["status"])
    meaning = _STATUS_MEANING.get(status, "")
    got = f"HTTP {status}{' ' + meaning if meaning else ''}"
    if status in wanted:
        return make_row(check, target, OK, f"{got}{': ' + what if what else ''}")
    expect_text = " or ".join(str(s) for s in wanted)
    return make_row(check, target, FAIL, f"{got}, expected {expect_text}{': ' + what if what else ''}")
