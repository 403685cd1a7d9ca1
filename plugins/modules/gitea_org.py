#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: a Gitea organisation."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitea_org
short_description: Ensure a Gitea organisation exists with a given visibility
version_added: 0.1.0
description:
  - Creates the organisation, owned by the connecting account, or corrects its visibility.
options:
  name:
    description: Name of the organisation.
    type: str
    required: true
  visibility:
    description: Who can see the organisation.
    type: str
    choices: [public, limited, private]
    default: private
extends_documentation_fragment:
  - gauntlet.platform.service_api.gitea
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The platform's organisation
  gauntlet.platform.gitea_org:
    url: https://gitea.local
    username: gauntlet-admin
    password: "{{ __gitea_admin_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    name: gauntlet
  no_log: true
"""

RETURN = r"""
created:
  description: Whether the organisation was created.
  returned: always
  type: bool
diff:
  description: Visibility before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_api import (
    GITEA_ARGSPEC,
    client_from_params,
    ensure_org,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    return ensure_org(client_from_params(params), params["name"], params["visibility"], check_mode=check_mode)


def with_diff(module, result: dict) -> dict:
    """run's before and after become the --diff output, shown only when asked for."""
    before, after = result.pop("before"), result.pop("after")
    if module._diff:
        result["diff"] = {"before": before or {}, "after": after}
    return result


def main():
    run_module(
        {
            **GITEA_ARGSPEC,
            "name": {"type": "str", "required": True},
            "visibility": {"type": "str", "choices": ["public", "limited", "private"], "default": "private"},
        },
        run,
        (ApiError,),
        lambda p: f"gitea organisation {p['name']}",
        with_diff,
    )


if __name__ == "__main__":
    main()
