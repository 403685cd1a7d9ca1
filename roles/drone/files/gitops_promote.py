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
3. asks the registry's push record (the registry token server's ``GET /pushes``, fed by
   distribution's notifications: roles/registry/files/registry_token_server.py) how often the
   tag ``<sha12>`` was pushed: deployed only when it was pushed exactly once, by the CI account
   (``PUSH_ACCOUNT``), and then by that push's digest. A tag pushed more than once (a branch
   build, which holds the same registry account, pushed it before or after main's build) is
   refused: the run fails, names every push, and leaves gitops alone;
4. sets ``newTag`` and ``digest`` of the image's entry in the gitops kustomization (the
   image becomes ``<name>:<sha12>@<digest>``, kubernetes-sigs/kustomize
   ``api/filters/imagetag/updater.go``) through Gitea's contents API, which applies gitops
   ``main``'s branch protection (go-gitea/gitea ``services/repository/files/update.go``
   VerifyBranchProtection).

``REPOSITORY`` is the image repository named in the kustomization's ``images`` entry (a name,
not an image reference); its path inside the registry is what the push record is asked about.
Nothing from the task-api repository is executed or trusted except its main head. Settings
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
import ssl
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
    "PUSHES_URL",
    "PUSHES_USERNAME",
    "PUSHES_PASSWORD_FILE",
    "PUSH_ACCOUNT",
)
# Optional: the CA file for an https PUSHES_URL (the local CA; the system store otherwise).
OPTIONAL = ("PUSHES_CA_FILE",)
TAG_LENGTH = 12
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class PromoteError(Exception):
    """A run that cannot promote, with what to check."""


class ApiError(PromoteError):
    """An HTTP error answer (``status``) to one call."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def load_settings(environ) -> dict:
    missing = [name for name in SETTINGS if not environ.get(name)]
    if missing:
        raise PromoteError(
            f"settings missing from the environment: {', '.join(missing)} (CronJob drone-gitops-promote)"
        )
    settings = {name: environ[name] for name in SETTINGS}
    settings.update({name: environ[name] for name in OPTIONAL if environ.get(name)})
    for name in ("GITEA_URL", "PUSHES_URL"):
        if urllib.parse.urlsplit(settings[name]).scheme not in ("http", "https"):
            raise PromoteError(f"{name} must be an http(s) URL, got {settings[name]!r}")
    for name in ("SOURCE_REPO", "GITOPS_REPO"):
        if not re.fullmatch(r"[^/\s]+/[^/\s]+", settings[name]):
            raise PromoteError(f"{name} must be owner/name, got {settings[name]!r}")
    for name in ("SOURCE_TOKEN_FILE", "GITOPS_TOKEN_FILE", "PUSHES_PASSWORD_FILE"):
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


def call(
    base: str, token: str, method: str, path: str, body=None, query=None, authorization=None, context=None
) -> dict:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (http(s) only: load_settings)
    request.add_header("Authorization", authorization or f"token {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:  # noqa: S310 (http(s) only: load_settings)
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise ApiError(
            f"{method} {path}: HTTP {exc.code} {exc.read()[:300].decode(errors='replace')}", exc.code
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise PromoteError(f"{method} {url}: {getattr(exc, 'reason', exc)}") from exc
    except ValueError as exc:
        raise PromoteError(f"{method} {path}: the answer is not JSON") from exc


def gitea(settings: dict, which: str, method: str, path: str, body=None, query=None) -> dict:
    """A Gitea API call with the token of ``which`` (SOURCE or GITOPS); a refused token is named.

    Gitea 1.27 answers 401 for a token it does not know (deleted, or replaced by a rerun of the gitea
    role while the Secret still holds the old one) and 404, not 403, for a repository the token's
    account cannot see (as observed against the real server: tests/services/test_gitea_real.py).
    """
    try:
        return call(settings["GITEA_URL"], settings[f"{which}_TOKEN"], method, path, body=body, query=query)
    except ApiError as exc:
        token = f"the token in {which}_TOKEN_FILE ({settings[f'{which}_TOKEN_FILE']})"
        if exc.status == 401:
            raise ApiError(
                f"{exc}: Gitea does not know {token} (deleted or replaced): rerun the gitea and drone roles in "
                "apply mode, which write the current tokens into the Secret drone-gitops-promote",
                exc.status,
            ) from exc
        repo = f"{which}_REPO ({settings[f'{which}_REPO']})"
        if exc.status == 404:
            raise ApiError(
                f"{exc}: not found, or not visible to the account of {token}: check {repo} and that account's "
                "access to it (docs/drone.md)",
                exc.status,
            ) from exc
        if exc.status == 403:
            raise ApiError(
                f"{exc}: Gitea refused this to the account of {token}: check the token's scopes, the account's "
                f"access to {repo} and that repository's branch protection (docs/drone.md)",
                exc.status,
            ) from exc
        raise


def head_commit(settings: dict) -> str:
    branch = gitea(settings, "SOURCE", "GET", _path(settings["SOURCE_REPO"], "branches", settings["SOURCE_BRANCH"]))
    sha = str((branch.get("commit") or {}).get("id", ""))
    if not SHA.match(sha):
        raise PromoteError(f"{settings['SOURCE_REPO']} {settings['SOURCE_BRANCH']}: no commit id in {branch!r:.200}")
    return sha


def build_succeeded(settings: dict, sha: str) -> bool:
    # CombinedStatus: the latest status of each context; ``statuses`` is null when there is none.
    combined = gitea(settings, "SOURCE", "GET", _path(settings["SOURCE_REPO"], "commits", sha, "status"))
    states = [s.get("status") for s in combined.get("statuses") or [] if s.get("context") == settings["STATUS_CONTEXT"]]
    return "success" in states


def registry_path(name: str) -> str:
    """The repository inside the registry: ``registry.local:5000/gauntlet/x`` -> ``gauntlet/x``.

    The first component names a registry when it holds a dot or a colon or is ``localhost``
    (distribution/reference ``normalize.go`` splitDockerDomain).
    """
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return rest
    return name


def recorded_pushes(settings: dict, tag: str) -> list[dict]:
    """The registry token server's record of the pushes of the image's ``tag`` (GET /pushes)."""
    url = urllib.parse.urlsplit(settings["PUSHES_URL"])
    context = None
    if url.scheme == "https":
        try:
            context = ssl.create_default_context(cafile=settings.get("PUSHES_CA_FILE"))
        except (OSError, ssl.SSLError) as exc:
            raise PromoteError(f"PUSHES_CA_FILE: cannot load {settings.get('PUSHES_CA_FILE')}: {exc}") from exc
    credentials = base64.b64encode(f"{settings['PUSHES_USERNAME']}:{settings['PUSHES_PASSWORD']}".encode()).decode()
    answer = call(
        f"{url.scheme}://{url.netloc}",
        "",
        "GET",
        url.path,
        query={"repository": registry_path(settings["REPOSITORY"]), "tag": tag},
        authorization=f"Basic {credentials}",
        context=context,
    )
    pushes = answer.get("pushes")
    if not isinstance(pushes, list) or not all(isinstance(p, dict) for p in pushes):
        raise PromoteError(f"GET {settings['PUSHES_URL']}: no list of pushes in {answer!r:.200}")
    return pushes


def decide(pushes: list[dict], image: str, account: str) -> tuple[str, str]:
    """("deploy", digest), ("wait", why) or ("refuse", why) for the recorded pushes of ``image``.

    Deployed only when the tag was pushed exactly once, by ``account``: a second push (the same
    bytes or not) means something other than main's build wrote the tag, before or after it.
    """
    if not pushes:
        return "wait", f"no push of {image} recorded by the registry yet"
    said = "; ".join(
        f"{p.get('digest', '?')} by {p.get('account') or 'an unknown account'} at {p.get('time', '?')}" for p in pushes
    )
    unchanged = "gitops is unchanged"
    if len(pushes) > 1:
        return "refuse", (
            f"refusing to deploy {image}: the tag was pushed {len(pushes)} times ({said}). Only main's build should "
            f"push it, once: a build of another branch (same registry account) pushed it too. {unchanged}; "
            "find out who pushed (Drone's builds at those times, the registry token server's log), then merge a new "
            "commit to main, whose new tag is deployed once its build pushed it"
        )
    (push,) = pushes
    if push.get("account") != account:
        return "refuse", (
            f"refusing to deploy {image}: it was pushed by {push.get('account') or 'an unknown account'!r}, "
            f"not by the CI account {account!r} ({said}). {unchanged}"
        )
    if not DIGEST.match(str(push.get("digest", ""))):
        return (
            "refuse",
            f"refusing to deploy {image}: the recorded push names {push.get('digest')!r}, not a sha256 digest. {unchanged}",
        )
    return "deploy", push["digest"]


def set_image(text: str, image: str, tag: str, digest: str) -> str:
    """``newTag`` and ``digest`` of the ``images`` entry named ``image``, whatever the indentation."""
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
                indent = found.group(1)
                lines[inner] = f'{indent}newTag: "{tag}"\n'
                end = inner + 1
                while end < len(lines) and lines[end].startswith(indent) and not re.match(r"^\s*- ", lines[end]):
                    if re.match(r"^\s*digest:", lines[end]):
                        del lines[end]
                        continue
                    end += 1
                lines.insert(inner + 1, f'{indent}digest: "{digest}"\n')
                return "".join(lines)
        break
    raise PromoteError(f"no newTag for {image} under images: in the gitops kustomization")


class Refused(PromoteError):
    """The tag may not be deployed (pushed more than once, or by another account)."""


def promote(settings: dict) -> str:
    sha = head_commit(settings)
    tag = sha[:TAG_LENGTH]
    image = f"{settings['REPOSITORY']}:{tag}"
    if not build_succeeded(settings, sha):
        return f"waiting: no successful {settings['STATUS_CONTEXT']} status on {settings['SOURCE_REPO']}@{sha} yet"
    verdict, detail = decide(recorded_pushes(settings, tag), image, settings["PUSH_ACCOUNT"])
    if verdict == "wait":
        return f"waiting: {detail}"
    if verdict == "refuse":
        raise Refused(detail)
    digest = detail
    path = _path(settings["GITOPS_REPO"], "contents", settings["GITOPS_PATH"])
    current = gitea(settings, "GITOPS", "GET", path, query={"ref": settings["GITOPS_BRANCH"]})
    if current.get("encoding", "base64") != "base64" or "sha" not in current:
        raise PromoteError(f"{settings['GITOPS_PATH']} in {settings['GITOPS_REPO']} is not a file")
    text = base64.b64decode(current.get("content") or "").decode()
    wanted = set_image(text, settings["REPOSITORY"], tag, digest)
    if wanted == text:
        return f"up to date: {settings['GITOPS_PATH']} deploys {image}@{digest}"
    try:
        gitea(settings, "GITOPS", "PUT", path, body={
            "content": base64.b64encode(wanted.encode()).decode(),
            "sha": current["sha"],
            "branch": settings["GITOPS_BRANCH"],
            "message": f"task-api: deploy {image}@{digest} ({settings['SOURCE_REPO']}@{sha}) [CI SKIP]",
        })  # fmt: skip
    except ApiError as exc:
        # A commit to the file since the GET: Gitea refuses the stale blob sha with 422 "sha does not
        # match" (routers/api/v1/repo/file.go handleCreateOrUpdateFileError); nothing was written.
        if exc.status != 422 or "sha does not match" not in str(exc):
            raise
        raise PromoteError(
            f"{settings['GITOPS_PATH']} in {settings['GITOPS_REPO']} changed while this run edited it ({exc}); "
            "nothing was written: the next run starts again from the new content"
        ) from exc
    return f"deployed {image}@{digest} via {settings['GITOPS_REPO']} {settings['GITOPS_PATH']}"


def main(environ=None) -> int:
    try:
        print(promote(load_settings(os.environ if environ is None else environ)))
    except PromoteError as exc:
        print(f"gitops promote: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
