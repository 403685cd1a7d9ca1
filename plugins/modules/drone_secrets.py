#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: repository secrets in Drone."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: drone_secrets
short_description: Keep repository secrets in Drone
version_added: 0.1.0
description:
  - Creates each secret of O(secrets) that the repository lacks, and writes again those whose value changed since
    this module last wrote them. Secrets named in O(absent) are deleted; other secrets are left alone.
  - Drone never returns secret values, so the sha256 of every value written is kept in O(fingerprint_file) (mode 0600)
    on the controller; a secret without a known fingerprint is written once.
  - Secrets are never exposed to pull requests unless O(pull_request) is set or they are named in O(pull_request_names)
    (a pull request from a fork could read them).
  - In check mode only GET requests are sent and the fingerprint file is not written.
options:
  secrets:
    description: Secret name to value.
    type: dict
    required: true
  fingerprint_file:
    description: JSON file on the controller with the fingerprints of the values written.
    type: path
    required: true
  pull_request:
    description: Expose the secrets to pull request builds.
    type: bool
    default: false
  pull_request_names:
    description: Names among O(secrets) exposed to pull request builds even when O(pull_request) is false.
    type: list
    elements: str
    default: []
  absent:
    description:
      - Names of secrets the repository must not have (for example one a pipeline no longer receives); they are
        deleted. A name may not be both in O(secrets) and here.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - gauntlet.platform.service_api.drone
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Registry push account of the Task API pipeline
  gauntlet.platform.drone_secrets:
    url: https://drone.local
    token: "{{ __drone_admin_token }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    repo: gauntlet/task-api
    secrets:
      registry_username: gauntlet
      registry_password: "{{ __drone_registry_password }}"
    fingerprint_file: "{{ gauntlet_credentials_dir }}/drone/secret-fingerprints.json"
  no_log: true
"""

RETURN = r"""
deleted:
  description: Names of the secrets deleted (O(absent)).
  returned: always
  type: list
  elements: str
created:
  description: Names of the secrets created.
  returned: always
  type: list
  elements: str
updated:
  description: Names of the secrets written again.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.drone_api import (
    DRONE_ARGSPEC,
    client_from_params,
    ensure_secrets,
    split_repo,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    owner, name = split_repo(params["repo"])
    return ensure_secrets(
        client_from_params(params),
        owner,
        name,
        params["secrets"],
        params["fingerprint_file"],
        pull_request=params["pull_request"],
        pull_request_names=params.get("pull_request_names") or [],
        check_mode=check_mode,
        absent=params.get("absent") or [],
    )


def main():
    run_module(
        {
            **DRONE_ARGSPEC,
            "secrets": {"type": "dict", "required": True, "no_log": True},
            "fingerprint_file": {"type": "path", "required": True},
            "pull_request": {"type": "bool", "default": False},
            "pull_request_names": {"type": "list", "elements": "str", "default": []},
            "absent": {"type": "list", "elements": "str", "default": []},
        },
        run,
        (ApiError, OSError),
        lambda p: f"drone secrets of {p['repo']}",
    )


if __name__ == "__main__":
    main()
