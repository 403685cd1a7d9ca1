#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: a Gitea user that logs in with a given password."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitea_user
short_description: Ensure a regular Gitea user exists and logs in with a given password
version_added: 0.1.0
description:
  - Creates the user through the admin API when it is missing (no e-mail is sent, the password need not be changed).
  - When the user exists but cannot log in with O(user_password), the password is set again, so the account follows
    the credential file it is generated from.
  - The connecting account (O(username)) must be a Gitea site administrator.
options:
  name:
    description: Login name of the user.
    type: str
    required: true
  email:
    description: E-mail address of a new user (existing users keep theirs).
    type: str
    required: true
  user_password:
    description: Password the user must log in with.
    type: str
    required: true
extends_documentation_fragment:
  - gauntlet.platform.service_api.gitea
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Argo CD's read-only account
  gauntlet.platform.gitea_user:
    url: https://gitea.local
    username: gauntlet-admin
    password: "{{ __gitea_admin_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    name: argocd
    email: argocd@gitea.local
    user_password: "{{ lookup('gauntlet.platform.credential', 'gitea/argocd-password', dir=gauntlet_credentials_dir) }}"
  no_log: true
"""

RETURN = r"""
created:
  description: Whether the user was created.
  returned: always
  type: bool
password_updated:
  description: Whether the password was set because the user could not log in with it.
  returned: always
  type: bool
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_api import (
    GITEA_ARGSPEC,
    client_from_params,
    ensure_user,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    client = client_from_params(params)
    return ensure_user(client, params["name"], params["email"], params["user_password"], check_mode=check_mode)


def main():
    run_module(
        {
            **GITEA_ARGSPEC,
            "name": {"type": "str", "required": True},
            "email": {"type": "str", "required": True},
            "user_password": {"type": "str", "required": True, "no_log": True},
        },
        run,
        (ApiError,),
        lambda p: f"gitea user {p['name']}",
    )


if __name__ == "__main__":
    main()
