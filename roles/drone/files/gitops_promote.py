# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Deploy the image of the reviewed main branch: the gitops bump, outside Drone.

Run by the CronJob ``drone-gitops-promote`` (role drone) with the token of the gitops
bump account, a token no Drone build ever receives. Each run:

1. reads the head commit of the source branch (``main`` of task-api; Gitea branch
   protection: changed only through merged pull requests);
2. waits until Drone reported a successful *push* build of that commit (Gitea commit
   status context ``continuous-integration/drone/push``: harness/drone v2.25.0
   ``service/status/util.go`` createLabel; custom and promote builds post other contexts);
3. sets ``newTag`` of the image's entry in the gitops kustomization to the first 12
   characters of that commit (the tag the pipeline's build-push step pushes) through
   Gitea's contents API, which applies gitops ``main``'s branch protection
   (go-gitea/gitea ``services/repository/files/update.go`` VerifyBranchProtection).

``REPOSITORY`` is the image repository named in the kustomization's ``images`` entry (a name,
not an image reference). Nothing from the task-api repository is executed or trusted except its main head. Settings
come from the environment, tokens from files (never the environment). Standard library only.

Gitea API v1 (go-gitea/gitea ``modules/structs``): ``GET /repos/{o}/{r}/branches/{b}``
(Branch.commit.id), ``GET /repos/{o}/{r}/commits/{ref}/status`` (CombinedStatus.statuses[]
with ``context`` and ``status``), ``GET``/``PUT /repos/{o}/{r}/contents/{path}``
(ContentsResponse.content/sha; UpdateFileOptions content, sha, branch, message).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

SETTINGS = (
    "GITEA_URL",
    "SOURCE_REPO",
    "SOURCE_BRANCH",
    "STATUS_CONTEXT",
    "GITOPS_REPO",
    "GITOPS_BRANCH",
    "GITOPS_PATH",
    "REPOSITORY",
    "SOURCE_TOKEN_FILE",
    "GITOPS_TOKEN_FILE",
)
TAG_LENGTH = 12
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


class PromoteError(Exception):
    """A run that cannot promote, with what to check."""


def load_settings(environ) -> dict:
    missing = [name for name in SETTINGS if not environ.get(name)]
    if missing:
        raise PromoteError(
            f"settings missing from the environment: {', '.join(missing)} (CronJob drone-gitops-promote)"
        )
    settings = {name: environ[name] for name in SETTINGS}
    if urllib.parse.urlsplit(settings["GITEA_URL"]).scheme not in ("http", "https"):
        raise PromoteError(f"GITEA_URL must be an http(s) URL, got {settings['GITEA_URL']!r}")
    for name in ("SOURCE_REPO", "GITOPS_REPO"):
        if not re.fullmatch(r"[^/\s]+/[^/\s]+", settings[name]):
            raise PromoteError(f"{name} must be owner/name, got {settings[name]!r}")
    for name in ("SOURCE_TOKEN_FILE", "GITOPS_TOKEN_FILE"):
        try:
            with open(settings[name], encoding="utf-8") as handle:
                settings[name[: -len("_FILE")]] = handle.read().strip()
        except OSError as exc:
            raise PromoteError(f"{name}: cannot read {settings[name]}: {exc.strerror}") from exc
        if not settings[name[: -len("_FILE")]]:
            raise PromoteError(f"{name}: {settings[name]} is empty (run the gitea and drone roles in apply mode)")
    return settings


def _path(repo: str, *parts: str) -> str:
    owner, name = repo.split("/", 1)
    tail = "/".join(urllib.parse.quote(p, safe="/") for p in parts)
    return f"/api/v1/repos/{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}/{tail}"


def call(base: str, token: str, method: str, path: str, body=None, query=None) -> dict:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http(s) only: load_settings)
    request.add_header("Authorization", f"token {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (http(s) only: load_settings)
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise PromoteError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300].decode(errors='replace')}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PromoteError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from exc
    except ValueError as exc:
        raise PromoteError(f"{method} {path}: the answer is not JSON") from exc


def head_commit(settings: dict) -> str:
    branch = call(settings["GITEA_URL"], settings["SOURCE_TOKEN"], "GET",
                  _path(settings["SOURCE_REPO"], "branches", settings["SOURCE_BRANCH"]))  # fmt: skip
    sha = str((branch.get("commit") or {}).get("id", ""))
    if not SHA.match(sha):
        raise PromoteError(f"{settings['SOURCE_REPO']} {settings['SOURCE_BRANCH']}: no commit id in {branch!r:.200}")
    return sha


def build_succeeded(settings: dict, sha: str) -> bool:
    combined = call(settings["GITEA_URL"], settings["SOURCE_TOKEN"], "GET",
                    _path(settings["SOURCE_REPO"], "commits", sha, "status"))  # fmt: skip
    states = [s.get("status") for s in combined.get("statuses") or [] if s.get("context") == settings["STATUS_CONTEXT"]]
    return "success" in states


def set_tag(text: str, image: str, tag: str) -> str:
    """``newTag`` of the ``images`` entry named ``image``, whatever the indentation."""
    lines = text.splitlines(keepends=True)
    entry = re.compile(r"^(\s*)- name:\s*[\"']?" + re.escape(image) + r"[\"']?\s*$")
    for index, line in enumerate(lines):
        match = entry.match(line)
        if not match:
            continue
        for inner in range(index + 1, len(lines)):
            if re.match(r"^\s*- ", lines[inner]) or (
                lines[inner].strip() and not lines[inner].startswith(match.group(1) + "  ")
            ):
                break
            found = re.match(r"^(\s*)newTag:", lines[inner])
            if found:
                ending = "\n" if lines[inner].endswith("\n") else ""
                lines[inner] = f'{found.group(1)}newTag: "{tag}"{ending}'
                return "".join(lines)
        break
    raise PromoteError(f"no newTag for {image} under images: in the gitops kustomization")


def promote(settings: dict) -> str:
    sha = head_commit(settings)
    tag = sha[:TAG_LENGTH]
    image = f"{settings['REPOSITORY']}:{tag}"
    if not build_succeeded(settings, sha):
        return f"waiting: no successful {settings['STATUS_CONTEXT']} status on {settings['SOURCE_REPO']}@{sha} yet"
    path = _path(settings["GITOPS_REPO"], "contents", settings["GITOPS_PATH"])
    current = call(
        settings["GITEA_URL"], settings["GITOPS_TOKEN"], "GET", path, query={"ref": settings["GITOPS_BRANCH"]}
    )
    if current.get("encoding", "base64") != "base64" or "sha" not in current:
        raise PromoteError(f"{settings['GITOPS_PATH']} in {settings['GITOPS_REPO']} is not a file")
    text = base64.b64decode(current.get("content") or "").decode()
    wanted = set_tag(text, settings["REPOSITORY"], tag)
    if wanted == text:
        return f"up to date: {settings['GITOPS_PATH']} deploys {image}"
    call(settings["GITEA_URL"], settings["GITOPS_TOKEN"], "PUT", path, body={
        "content": base64.b64encode(wanted.encode()).decode(),
        "sha": current["sha"],
        "branch": settings["GITOPS_BRANCH"],
        "message": f"task-api: deploy {image} ({settings['SOURCE_REPO']}@{sha}) [CI SKIP]",
    })  # fmt: skip
    return f"deployed {image} via {settings['GITOPS_REPO']} {settings['GITOPS_PATH']}"


def main(environ=None) -> int:
    try:
        print(promote(load_settings(os.environ if environ is None else environ)))
    except PromoteError as exc:
        print(f"gitops promote: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
