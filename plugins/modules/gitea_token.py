#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: a Gitea access token of the connecting account, stored in a credential file."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitea_token
short_description: Ensure a Gitea access token exists and its value is stored on the controller
version_added: 0.1.0
description:
  - Gitea shows a token's value once, when it creates it; the value is written to O(token_file) (folder 0700, file
    0600) for consumers to read (the drone role puts it into a pipeline secret).
  - The token belongs to the connecting account (O(username)); Gitea takes that account's own password for token
    operations.
  - The token is kept when it exists with the wanted scopes and the stored value ends in the last eight characters
    Gitea reports for it; otherwise it is deleted, created again, and the file is written.
options:
  name:
    description: Name of the token (unique per account).
    type: str
    required: true
  scopes:
    description: Scopes of the token, for example V(write:repository).
    type: list
    elements: str
    required: true
  token_file:
    description: File on the controller holding the token's value.
    type: path
    required: true
extends_documentation_fragment:
  - gauntlet.platform.service_api.gitea
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The CI account's token for pushing image tag bumps to gitops
  gauntlet.platform.gitea_token:
    url: https://gitea.local
    username: gauntlet-ci
    password: "{{ __gitea_ci_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    name: drone-gitops
    scopes: [write:repository]
    token_file: "{{ gauntlet_credentials_dir }}/gitea/ci-token"
  no_log: true
"""

RETURN = r"""
action:
  description: V(kept), V(created) or V(replaced).
  returned: always
  type: str
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_api import (
    GITEA_ARGSPEC,
    client_from_params,
    ensure_token,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.issued_secret import SecretFileError
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    if not params["scopes"]:
        raise ApiError("scopes must name at least one scope")
    return ensure_token(
        client_from_params(params),
        params["username"],
        params["password"],
        params["name"],
        params["scopes"],
        params["token_file"],
        check_mode=check_mode,
    )


def main():
    run_module(
        {
            **GITEA_ARGSPEC,
            "name": {"type": "str", "required": True},
            "scopes": {"type": "list", "elements": "str", "required": True},
            "token_file": {"type": "path", "required": True},
        },
        run,
        (ApiError, SecretFileError),
        lambda p: f"gitea token {p['name']} of {p['username']}",
    )


if __name__ == "__main__":
    main()
