#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: publish folders of the controller into a git branch, keeping the branch's own commits."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: git_publish
short_description: Publish controller folders into a remote git branch without rewriting its history
version_added: 0.1.0
description:
  - Copies O(sources) into a temporary repository and compares them with what was published last, which is kept in a
    ref of the remote (O(source_ref), outside C(refs/heads) so it starts no webhook or CI build).
  - Unchanged sources push nothing, whatever was committed on O(branch) since (CI image tag bumps, developers' work).
  - Changed sources are committed on top of the previous publish and merged into O(branch) (a fast-forward when the
    branch did not move), so commits made on the branch are kept; a conflict fails with the conflicting paths.
    Nothing is ever force-pushed.
  - An empty repository gets the sources as its first commit. A branch with other content and no O(source_ref) is
    adopted only when its content equals the sources.
  - Credentials reach git through a credential helper reading the git process's environment; they never appear in a
    URL, an argument, a C(.git/config) or the output. Global and system git configuration are ignored.
  - Runs on the controller; needs the C(git) binary there. Check mode computes the result without pushing.
options:
  repo_url:
    description: Clone URL of the repository, without credentials.
    type: str
    required: true
  branch:
    description: Branch to publish into.
    type: str
    default: main
  root:
    description: Folder the O(sources) paths are relative to.
    type: path
    required: true
  sources:
    description: What to publish.
    type: list
    elements: dict
    required: true
    suboptions:
      src:
        description: File or folder under O(root).
        type: str
        required: true
      dest:
        description: Path in the repository; empty for the root (folders only).
        type: str
        default: ""
  exclude:
    description: File name patterns (fnmatch) never published, at any depth.
    type: list
    elements: str
    default: []
  username:
    description: Account to push as (HTTP basic auth through a credential helper).
    type: str
  password:
    description: Password or token of O(username).
    type: str
  ca_path:
    description: CA file git verifies the server with (GIT_SSL_CAINFO).
    type: path
  author:
    description: Author and committer of the commits, V(Name <email>).
    type: str
    default: Gauntlet <gauntlet@localhost>
  commit_message:
    description:
      - Message of the commit holding changed sources (not C(message), a name validate-modules reserves).
    type: str
    default: Publish sources
  source_ref:
    description: Ref of the remote marking the last published sources; C(refs/gauntlet/source/<branch>) by default.
    type: str
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Publish the gitops folder
  gauntlet.platform.git_publish:
    repo_url: https://gitea.local/gauntlet/gitops.git
    root: "{{ playbook_dir | dirname }}"
    sources:
      - {src: gitops, dest: ""}
    exclude: [__pycache__, "*.pyc"]
    username: gauntlet-admin
    password: "{{ __gitea_admin_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
  no_log: true
"""

RETURN = r"""
action:
  description: V(none) (sources unchanged), V(created), V(fast-forward), V(merged), V(adopted) or V(restored) (the
    branch was missing and gets the last published sources).
  returned: always
  type: str
commit:
  description: Commit the branch points to (after the push, or after it would be pushed in check mode).
  returned: always
  type: str
paths:
  description: C(git diff --name-status) lines of the branch's change.
  returned: always
  type: list
  elements: str
"""

import re

from ansible_collections.gauntlet.platform.plugins.module_utils.services.git_publish import PublishError, publish
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module

AUTHOR = re.compile(r"^(?P<name>[^<>]+?)\s*<(?P<email>[^<>\s]+)>$")


def run(params: dict, check_mode: bool = False) -> dict:
    match = AUTHOR.match(params["author"] or "")
    if not match:
        raise PublishError(f"author {params['author']!r} must look like 'Name <email>'")
    if params["username"] and not params["password"]:
        raise PublishError("password is required with username")
    return publish(
        params["repo_url"],
        params["branch"],
        params["root"],
        params["sources"],
        exclude=params["exclude"],
        author_name=match["name"],
        author_email=match["email"],
        message=params["commit_message"],
        username=params["username"],
        password=params["password"],
        ca_path=params["ca_path"],
        source_ref=params["source_ref"],
        check_mode=check_mode,
    )


def main():
    run_module(
        {
            "repo_url": {"type": "str", "required": True},
            "branch": {"type": "str", "default": "main"},
            "root": {"type": "path", "required": True},
            "sources": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {"src": {"type": "str", "required": True}, "dest": {"type": "str", "default": ""}},
            },
            "exclude": {"type": "list", "elements": "str", "default": []},
            "username": {"type": "str"},
            "password": {"type": "str", "no_log": True},
            "ca_path": {"type": "path"},
            "author": {"type": "str", "default": "Gauntlet <gauntlet@localhost>"},
            "commit_message": {"type": "str", "default": "Publish sources"},
            "source_ref": {"type": "str"},
        },
        run,
        (PublishError,),
        lambda p: f"git_publish {p['repo_url']}",
    )


if __name__ == "__main__":
    main()
