# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Publish folders of the controller into a remote git branch, without rewriting anyone's history.

The sources are copied into a temporary repository and committed as a tree. Two refs
of the remote are involved:

- the branch people and CI use (``main``), and
- a *source ref* (default ``refs/gauntlet/source/<branch>``, outside refs/heads so no
  webhook and no CI build fires for it) that holds exactly the published sources, one
  commit per change.

When the sources are unchanged since the last publish, nothing is pushed, whatever
happened on the branch since (CI tag bumps, developers' pushes). When they changed,
the new source commit is merged into the branch: a fast-forward if nobody committed
there since, otherwise a real merge whose base is the previous publish, so commits made
on the branch are kept. A merge conflict stops with the conflicting paths; nothing is
ever force-pushed.

Credentials reach git through a credential helper reading environment variables of the
git process: they are never in a URL, an argument, ``.git/config`` or the output. The
TLS trust is the CA file given (GIT_SSL_CAINFO). Global and system git configuration are
ignored so the result does not depend on the controller's settings.

Stdlib only; needs the git binary.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import tempfile

CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; echo "username=${GAUNTLET_GIT_USERNAME}"; '
    'echo "password=${GAUNTLET_GIT_PASSWORD}"; }; f'
)


class PublishError(Exception):
    """Publishing failed; the message says why and what to do."""


class _Git:
    def __init__(self, workdir: str, env: dict, auth_args: list[str], secrets: list[str]):
        self.workdir = workdir
        self.env = env
        self.auth_args = auth_args
        self.secrets = [s for s in secrets if s]

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    def __call__(self, *args: str, network: bool = False, check: bool = True, extra_env: dict | None = None) -> str:
        command = ["git", *(self.auth_args if network else []), *args]
        try:
            done = subprocess.run(  # noqa: S603 - fixed git argv, no shell
                command,
                cwd=self.workdir,
                env={**self.env, **(extra_env or {})},
                capture_output=True,
                text=True,
                check=False,
                timeout=300,
            )
        except FileNotFoundError as exc:
            raise PublishError("git is not installed on the controller; install it (Debian package git)") from exc
        except subprocess.TimeoutExpired as exc:
            raise PublishError(f"git {args[0]} did not finish within 300 s") from exc
        if check and done.returncode != 0:
            raise PublishError(f"git {args[0]} failed: {self._scrub(done.stderr.strip() or done.stdout.strip())}")
        return done.stdout.strip() if done.returncode == 0 else ""


def _ignore(patterns: list[str]):
    def ignore(_folder, names):
        return {name for name in names if name == ".git" or any(fnmatch.fnmatch(name, p) for p in patterns)}

    return ignore


def stage_sources(root: str, sources: list[dict], exclude: list[str], stage: str) -> None:
    """Copy each ``src`` (relative to ``root``) to ``dest`` inside ``stage``."""
    for source in sources:
        src = os.path.join(root, source["src"])
        dest_rel = (source.get("dest") or "").strip("/")
        if os.path.isabs(dest_rel) or ".." in dest_rel.split("/"):
            raise PublishError(f"dest {source.get('dest')!r} must be a relative path inside the repository")
        dest = os.path.join(stage, dest_rel) if dest_rel else stage
        if os.path.isdir(src):
            shutil.copytree(src, dest, symlinks=True, ignore=_ignore(exclude), dirs_exist_ok=True)
        elif os.path.isfile(src):
            if not dest_rel:
                raise PublishError(f"source file {source['src']} needs a dest file name")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(src, dest)
        else:
            raise PublishError(f"source {src} does not exist")


def publish(
    repo_url: str,
    branch: str,
    root: str,
    sources: list[dict],
    *,
    exclude: list[str] | None = None,
    author_name: str = "Gauntlet",
    author_email: str = "gauntlet@localhost",
    message: str = "Publish sources",
    username: str | None = None,
    password: str | None = None,
    ca_path: str | None = None,
    source_ref: str | None = None,
    check_mode: bool = False,
) -> dict:
    """Publish ``sources`` to ``branch`` of ``repo_url``; see the module docstring."""
    source_ref = source_ref or f"refs/gauntlet/source/{branch}"
    if not source_ref.startswith("refs/") or source_ref == f"refs/heads/{branch}":
        raise PublishError(f"source_ref {source_ref!r} must be a full ref name other than the branch itself")
    if "@" in repo_url.split("//", 1)[-1].split("/", 1)[0]:
        raise PublishError("repo_url must not carry credentials; pass username and password")
    with tempfile.TemporaryDirectory(prefix="gauntlet-publish-") as tmp:
        repo = os.path.join(tmp, "repo")
        stage = os.path.join(tmp, "stage")
        os.makedirs(repo)
        os.makedirs(stage)
        identity = {
            "GIT_AUTHOR_NAME": author_name,
            "GIT_AUTHOR_EMAIL": author_email,
            "GIT_COMMITTER_NAME": author_name,
            "GIT_COMMITTER_EMAIL": author_email,
        }
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            **identity,
        }
        if ca_path:
            env["GIT_SSL_CAINFO"] = ca_path
        auth_args = []
        if username:
            env["GAUNTLET_GIT_USERNAME"] = username
            env["GAUNTLET_GIT_PASSWORD"] = password or ""
            auth_args = ["-c", "credential.helper=", "-c", f"credential.helper={CREDENTIAL_HELPER}"]
        git = _Git(repo, env, auth_args, [password or ""])

        git("init", "-q")
        git("config", "core.autocrlf", "false")
        git("remote", "add", "origin", repo_url)
        listed = git("ls-remote", "origin", network=True)
        remote_refs = {ref: sha for sha, _unused, ref in (line.partition("\t") for line in listed.splitlines())}
        wanted = [ref for ref in (f"refs/heads/{branch}", source_ref) if ref in remote_refs]
        if wanted:
            git("fetch", "-q", "--no-tags", "origin", *[f"+{ref}:refs/fetched/{ref}" for ref in wanted], network=True)
        remote_branch = remote_refs.get(f"refs/heads/{branch}")
        remote_source = remote_refs.get(source_ref)

        stage_sources(root, sources, exclude or [], stage)
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        git("--work-tree", stage, "add", "-A", ".", extra_env=index)
        tree = git("write-tree", extra_env=index)

        result = {"changed": False, "action": "none", "commit": remote_branch, "paths": []}
        if remote_source and git("rev-parse", f"{remote_source}^{{tree}}") == tree:
            if remote_branch:
                return result  # sources unchanged since the last publish: the branch is theirs
            pushes = [f"{remote_source}:refs/heads/{branch}"]
            result.update(changed=True, action="restored", commit=remote_source)
        elif remote_branch and not remote_source:
            if git("rev-parse", f"{remote_branch}^{{tree}}") != tree:
                raise PublishError(
                    f"branch {branch} of {repo_url} has content that differs from the sources and was not "
                    f"published here (no {source_ref}); empty the repository or merge the sources by hand"
                )
            pushes = [f"{remote_branch}:{source_ref}"]
            result.update(changed=True, action="adopted")
        else:
            parent = ["-p", remote_source] if remote_source else []
            source_commit = git("commit-tree", tree, *parent, "-m", message)
            if not remote_branch:
                new_branch = source_commit
                result["action"] = "created"
            elif remote_branch == remote_source:
                new_branch = source_commit
                result["action"] = "fast-forward"
            else:
                git("checkout", "-q", "--detach", remote_branch)
                git("merge", "-q", "--no-ff", "--no-edit", "-m", f"Merge published sources: {message}", source_commit,
                    check=False)  # fmt: skip
                conflicts = git("diff", "--name-only", "--diff-filter=U")
                if conflicts:
                    git("merge", "--abort", check=False)
                    raise PublishError(
                        f"the sources conflict with commits on {branch} of {repo_url} in: "
                        f"{', '.join(conflicts.splitlines())}; resolve them in the repository, then copy the "
                        "result back into the sources"
                    )
                new_branch = git("rev-parse", "HEAD")
                if new_branch == remote_branch:
                    raise PublishError(f"merging the sources into {branch} produced no commit")
                result["action"] = "merged"
            pushes = [f"{new_branch}:refs/heads/{branch}", f"{source_commit}:{source_ref}"]
            base = remote_branch or "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the empty tree
            result["paths"] = git("diff", "--name-status", base, new_branch).splitlines()
            result.update(changed=True, commit=new_branch)
        if not check_mode:
            # The branch first: if its push is refused, the source ref still marks the last publish.
            for refspec in pushes:
                git("push", "-q", "origin", refspec, network=True)
        return result
