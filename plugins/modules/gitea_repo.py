#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: a Gitea repository of an organisation, with collaborators and a branch protection rule."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitea_repo
short_description: Ensure an organisation's Gitea repository exists with given settings and collaborators
version_added: 0.1.0
description:
  - Creates the repository empty (no initial commit, so the first push defines its history) or corrects its
    description and privacy.
  - Adds each listed collaborator or corrects its permission; collaborators not listed are left alone.
  - With O(branch_protection), keeps a protection rule on that branch (Gitea API
    C(/repos/{owner}/{repo}/branch_protections)) - pushes only by O(branch_protection.push_users), no deploy keys,
    no force push - creating it or correcting those fields; the rule's other fields are left alone.
options:
  owner:
    description: Organisation owning the repository.
    type: str
    required: true
  name:
    description: Name of the repository.
    type: str
    required: true
  description:
    description: One-line description.
    type: str
    default: ""
  private:
    description: Whether only members and collaborators can see it.
    type: bool
    default: true
  default_branch:
    description: Default branch of a new repository.
    type: str
    default: main
  collaborators:
    description: Users and their permission on the repository.
    type: list
    elements: dict
    default: []
    suboptions:
      user:
        description: Login name.
        type: str
        required: true
      permission:
        description: Permission given.
        type: str
        choices: [read, write, admin]
        required: true
  branch_protection:
    description: A protection rule for one branch.
    type: dict
    suboptions:
      branch:
        description: The branch (the rule's name).
        type: str
        required: true
      push_users:
        description: The only accounts that may push to it (merges of pull requests follow Gitea's merge rules).
        type: list
        elements: str
        required: true
extends_documentation_fragment:
  - gauntlet.platform.service_api.gitea
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The gitops repository, readable by Argo CD
  gauntlet.platform.gitea_repo:
    url: https://gitea.local
    username: gauntlet-admin
    password: "{{ __gitea_admin_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    owner: gauntlet
    name: gitops
    collaborators:
      - {user: argocd, permission: read}
    branch_protection:
      branch: main
      push_users: [gauntlet-admin, gauntlet-ci]
  no_log: true
"""

RETURN = r"""
created:
  description: Whether the repository was created.
  returned: always
  type: bool
updated:
  description: Settings that were corrected.
  returned: always
  type: list
  elements: str
collaborators_changed:
  description: Collaborators added or whose permission was corrected.
  returned: always
  type: list
  elements: str
protection:
  description: What happened to the branch protection rule, V(none) (not asked for), V(kept), V(created) or V(updated).
  returned: always
  type: str
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_api import (
    GITEA_ARGSPEC,
    client_from_params,
    ensure_repo,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    return ensure_repo(
        client_from_params(params),
        params["owner"],
        params["name"],
        description=params["description"],
        private=params["private"],
        default_branch=params["default_branch"],
        collaborators=params["collaborators"],
        branch_protection=params.get("branch_protection"),
        check_mode=check_mode,
    )


def main():
    run_module(
        {
            **GITEA_ARGSPEC,
            "owner": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "description": {"type": "str", "default": ""},
            "private": {"type": "bool", "default": True},
            "default_branch": {"type": "str", "default": "main"},
            "collaborators": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "user": {"type": "str", "required": True},
                    "permission": {"type": "str", "required": True, "choices": ["read", "write", "admin"]},
                },
            },
            "branch_protection": {
                "type": "dict",
                "options": {
                    "branch": {"type": "str", "required": True},
                    "push_users": {"type": "list", "elements": "str", "required": True},
                },
            },
        },
        run,
        (ApiError,),
        lambda p: f"gitea repository {p['owner']}/{p['name']}",
    )


if __name__ == "__main__":
    main()
