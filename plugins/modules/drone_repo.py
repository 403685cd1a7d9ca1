#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: a repository activated in Drone, with its settings."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drone_repo
short_description: Activate a repository in Drone and keep its settings
version_added: 0.1.0
description:
  - When the repository is not active, syncs the token's account with Gitea (C(POST /api/user/repos?async=false)) and
    activates the repository (C(POST /api/repos/{owner}/{name})), which makes Drone add its webhook in Gitea.
  - Sync and activation run with the account's Gitea OAuth2 token, which Drone gets only when the account logs in.
    With O(link), an account that never logged in (or whose sync fails) is logged in through Gitea's OAuth2 flow the
    way a browser does. Drone refuses logins of machine accounts, so the account must not be one.
  - Then corrects the listed O(settings) (C(PATCH /api/repos/{owner}/{name})).
  - In check mode only GET requests are sent.
options:
  settings:
    description:
      - Repository settings to keep, by Drone's field name (V(config_path), V(timeout), V(visibility), V(protected),
        V(trusted), V(ignore_forks), V(ignore_pull_requests), V(auto_cancel_pull_requests), V(auto_cancel_pushes),
        V(auto_cancel_running), V(throttle)).
    type: dict
    default: {}
  link:
    description: How to log the account in to Drone through Gitea when it has no Gitea token yet.
    type: dict
    suboptions:
      gitea_url:
        description: Base URL of Gitea as Drone knows it (C(DRONE_GITEA_SERVER)).
        type: str
        required: true
      username:
        description: Gitea login of the account (the Drone account has the same name).
        type: str
        required: true
      password:
        description: Gitea password of the account.
        type: str
        required: true
  build_on_activation:
    description: Branch to build once right after the repository is activated (nothing when omitted).
    type: str
extends_documentation_fragment:
  - gauntlet.platform.service_api.drone
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Activate the Task API in Drone
  gauntlet.platform.drone_repo:
    url: https://drone.local
    token: "{{ __drone_admin_token }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    repo: gauntlet/task-api
    settings:
      config_path: apps/task-api/.drone.yml
    link:
      gitea_url: https://gitea.local
      username: gauntlet-ci
      password: "{{ __drone_ci_password }}"
    build_on_activation: main
  no_log: true
"""

RETURN = r"""
activated:
  description: Whether the repository was activated.
  returned: always
  type: bool
linked:
  description: Whether the account was logged in through Gitea.
  returned: always
  type: bool
updated:
  description: Settings that were corrected.
  returned: always
  type: list
  elements: str
build:
  description: Number of the build started after activation, or null.
  returned: always
  type: int
"""

import functools

from ansible_collections.gauntlet.platform.plugins.module_utils.services.drone_api import (
    DRONE_ARGSPEC,
    client_from_params,
    ensure_repo,
    link_account,
    split_repo,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    owner, name = split_repo(params["repo"])
    link = None
    if params["link"]:
        link = functools.partial(
            link_account,
            params["url"],
            params["link"]["gitea_url"],
            params["link"]["username"],
            params["link"]["password"],
            ca_path=params["ca_path"],
            timeout=params["timeout"],
            resolve=params.get("resolve"),
        )
    return ensure_repo(
        client_from_params(params),
        owner,
        name,
        settings=params["settings"],
        link=link,
        build_on_activation=params["build_on_activation"],
        check_mode=check_mode,
    )


def main():
    run_module(
        {
            **DRONE_ARGSPEC,
            "settings": {"type": "dict", "default": {}},
            "link": {
                "type": "dict",
                "options": {
                    "gitea_url": {"type": "str", "required": True},
                    "username": {"type": "str", "required": True},
                    "password": {"type": "str", "required": True, "no_log": True},
                },
            },
            "build_on_activation": {"type": "str"},
        },
        run,
        (ApiError,),
        lambda p: f"drone repository {p['repo']}",
    )


if __name__ == "__main__":
    main()
