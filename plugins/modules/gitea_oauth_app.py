#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: a Gitea OAuth2 application whose client id and secret are kept in credential files."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitea_oauth_app
short_description: Ensure a Gitea OAuth2 application exists and its client id and secret are stored on the controller
version_added: 0.1.0
description:
  - Gitea shows an application's client secret only when it creates or regenerates it, so the id and the secret are
    written to two files (folder 0700, files 0600) in the credentials folder, for the consumer (Drone) to read.
  - The application, owned by the connecting account, is kept when it exists with the wanted redirect URIs and client
    type, O(client_id_file) holds its client id and O(client_secret_file) exists.
  - Otherwise it is created, or updated (Gitea regenerates the secret on every update), and both files are written.
    A consumer must then be restarted with the new secret; the drone role does it through a checksum annotation.
  - In check mode nothing is sent but GET requests and no file is written.
options:
  name:
    description: Name of the application (unique among the account's applications).
    type: str
    required: true
  redirect_uris:
    description: Redirect URIs the application accepts, for example V(https://drone.local/login).
    type: list
    elements: str
    required: true
  confidential_client:
    description: Whether the client keeps its secret (a server such as Drone).
    type: bool
    default: true
  client_id_file:
    description: File on the controller holding the client id.
    type: path
    required: true
  client_secret_file:
    description: File on the controller holding the client secret.
    type: path
    required: true
extends_documentation_fragment:
  - gauntlet.platform.service_api.gitea
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Drone's OAuth2 application
  gauntlet.platform.gitea_oauth_app:
    url: https://gitea.local
    username: gauntlet-admin
    password: "{{ __gitea_admin_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    name: drone
    redirect_uris: [https://drone.local/login]
    client_id_file: "{{ gauntlet_credentials_dir }}/drone/gitea-client-id"
    client_secret_file: "{{ gauntlet_credentials_dir }}/drone/gitea-client-secret"
  no_log: true
"""

RETURN = r"""
action:
  description: V(kept), V(created), V(updated) (settings differed) or V(secret_regenerated) (a stored value was missing
    or stale).
  returned: always
  type: str
client_id:
  description: Client id of the application (not a secret); null in check mode before creation.
  returned: always
  type: str
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_api import (
    GITEA_ARGSPEC,
    client_from_params,
    ensure_oauth_app,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.issued_secret import SecretFileError
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    if not params["redirect_uris"]:
        raise ApiError("redirect_uris must name at least one URI")
    return ensure_oauth_app(
        client_from_params(params),
        params["name"],
        params["redirect_uris"],
        params["client_id_file"],
        params["client_secret_file"],
        confidential=params["confidential_client"],
        check_mode=check_mode,
    )


def without_id(_module, result: dict) -> dict:
    """Gitea's numeric id of the application is run's bookkeeping, not a return value."""
    result.pop("id", None)
    return result


def main():
    run_module(
        {
            **GITEA_ARGSPEC,
            "name": {"type": "str", "required": True},
            "redirect_uris": {"type": "list", "elements": "str", "required": True},
            "confidential_client": {"type": "bool", "default": True},
            "client_id_file": {"type": "path", "required": True},
            "client_secret_file": {"type": "path", "required": True},
        },
        run,
        (ApiError, SecretFileError),
        lambda p: f"gitea OAuth2 application {p['name']}",
        without_id,
    )


if __name__ == "__main__":
    main()
