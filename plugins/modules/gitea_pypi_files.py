#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: the bundle's wheels in a Gitea PyPI package registry."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitea_pypi_files
short_description: Ensure wheels listed in a lock are in the PyPI package registry of a Gitea account
version_added: 0.1.0
description:
  - Uploads every wheel of O(wheels) from O(directory) to Gitea's PyPI registry of O(owner)
    (C(POST /api/packages/<owner>/pypi), the multipart upload twine makes), so that pip installs them from
    C(https://<gitea>/api/packages/<owner>/pypi/simple/).
  - Before anything is uploaded, every file is checked against its lock entry (sha256, and the name and version in
    its METADATA), and the index's project pages (C(GET .../simple/<name>/)) are read. A file the index has with the
    same sha256 is kept; one it has with another sha256 is an error naming the file (Gitea never replaces a file),
    and then nothing is uploaded.
  - Check mode only reads.
options:
  owner:
    description: Gitea account (user or organisation) whose registry holds the wheels; O(username) must be allowed
      to write its packages (the account itself, or a site administrator).
    type: str
    required: true
  directory:
    description: Folder holding the wheel files (the bundle's C(wheels/)).
    type: path
    required: true
  wheels:
    description:
      - The lock's wheel entries, one per file.
      - Each needs C(name) (project), C(version), C(filename) (a C(.whl) in O(directory)) and C(sha256) (64 hex).
    type: list
    elements: dict
    required: true
extends_documentation_fragment:
  - gauntlet.platform.service_api.gitea
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Fill the package index from the bundle
  gauntlet.platform.gitea_pypi_files:
    url: https://gitea.local
    username: gauntlet-packages
    password: "{{ __gitea_packages_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    owner: gauntlet-packages
    directory: "{{ gauntlet_bundle_dir }}/wheels"
    wheels: "{{ (lookup('ansible.builtin.file', gauntlet_bundle_dir ~ '/bundle.lock.json') | from_json).wheels }}"
  no_log: true
"""

RETURN = r"""
uploaded:
  description: File names uploaded (in check mode, those that would be).
  returned: always
  type: list
  elements: str
kept:
  description: File names the index already had with the same sha256.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_api import GITEA_ARGSPEC
from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_pypi import PypiIndex, ensure_wheels
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError, HttpClient


def run(params: dict, check_mode: bool = False) -> dict:
    http = HttpClient(ca_path=params["ca_path"], timeout=params["timeout"], resolve=params.get("resolve"))
    index = PypiIndex(http, params["url"], params["owner"], params["username"], params["password"])
    return ensure_wheels(index, params["directory"], params["wheels"], check_mode=check_mode)


def main():
    run_module(
        {
            **GITEA_ARGSPEC,
            "owner": {"type": "str", "required": True},
            "directory": {"type": "path", "required": True},
            "wheels": {"type": "list", "elements": "dict", "required": True},
        },
        run,
        (ApiError,),
        lambda p: f"gitea PyPI registry of {p['owner']}",
    )


if __name__ == "__main__":
    main()
