#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Module: a signed Gitea webhook of a repository (the gitops push notice to Argo CD)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gitea_webhook
short_description: Ensure a repository of Gitea has a JSON webhook to a URL, signed with a shared secret
version_added: 0.1.0
description:
  - Creates or corrects a webhook of type C(gitea), content type JSON, method POST, on O(owner)/O(repo) to
    O(hook_url). Gitea signs each delivery with O(secret) (HMAC-SHA256 of the body, hex, in the headers
    C(X-Gitea-Signature) and C(X-Gogs-Signature); go-gitea/gitea C(services/webhook/deliver.go) addDefaultHeaders).
  - The connecting account must administer the repository (Gitea's hooks API is for repository admins).
  - Gitea never shows a hook's secret again, so the module records in O(state_file) (folder 0700, file 0600) the
    hook's id and a sha256 of the secret it last sent. The hook is kept when its events, branch filter, content type
    and that record match; otherwise it is updated with the secret again. A secret changed by hand in Gitea's
    settings is not detected; delete O(state_file) to send the secret again.
options:
  owner:
    description: Owner (organisation or user) of the repository.
    type: str
    required: true
  repo:
    description: Name of the repository.
    type: str
    required: true
  hook_url:
    description: URL Gitea delivers to; it identifies the hook (one hook per URL).
    type: str
    required: true
  secret:
    description: Shared secret Gitea signs the deliveries with.
    type: str
    required: true
  events:
    description: Events that trigger a delivery.
    type: list
    elements: str
    default: [push]
  branch_filter:
    description: Branches whose pushes are delivered (Gitea glob); empty delivers every branch.
    type: str
    default: ""
  state_file:
    description: File on the controller recording the hook id and the secret's sha256.
    type: path
    required: true
extends_documentation_fragment:
  - gauntlet.platform.service_api.gitea
  - gauntlet.platform.service_api.resolve
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Push notices of gitops to Argo CD
  gauntlet.platform.gitea_webhook:
    url: https://gitea.local
    username: gauntlet-admin
    password: "{{ __gitea_admin_password }}"
    ca_path: "{{ gauntlet_ca_cert }}"
    owner: gauntlet
    repo: gitops
    hook_url: http://argocd-server.argocd.svc/api/webhook
    secret: "{{ __gitea_argocd_webhook_secret }}"
    branch_filter: main
    state_file: "{{ gauntlet_credentials_dir }}/gitea/argocd-webhook-state"
  no_log: true
"""

RETURN = r"""
action:
  description: V(kept), V(created) or V(updated).
  returned: always
  type: str
id:
  description: Id of the hook in Gitea (not returned in check mode when it would be created).
  returned: when the hook exists
  type: int
"""

from ansible_collections.gauntlet.platform.plugins.module_utils.services.gitea_api import (
    GITEA_ARGSPEC,
    client_from_params,
    ensure_webhook,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.issued_secret import SecretFileError
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import ApiError


def run(params: dict, check_mode: bool = False) -> dict:
    if not params["secret"]:
        raise ApiError("secret is empty: the hook must be signed (Argo CD checks webhook.gogs.secret)")
    if not params["hook_url"].startswith(("http://", "https://")):
        raise ApiError(f"hook_url {params['hook_url']!r} must be an http:// or https:// URL")
    return ensure_webhook(
        client_from_params(params),
        params["owner"],
        params["repo"],
        params["hook_url"],
        params["secret"],
        params["state_file"],
        params["events"],
        params["branch_filter"],
        check_mode=check_mode,
    )


def main():
    run_module(
        {
            **GITEA_ARGSPEC,
            "owner": {"type": "str", "required": True},
            "repo": {"type": "str", "required": True},
            "hook_url": {"type": "str", "required": True},
            "secret": {"type": "str", "required": True, "no_log": True},
            "events": {"type": "list", "elements": "str", "default": ["push"]},
            "branch_filter": {"type": "str", "default": ""},
            "state_file": {"type": "path", "required": True},
        },
        run,
        (ApiError, SecretFileError),
        lambda p: f"gitea webhook of {p['owner']}/{p['repo']} to {p['hook_url']}",
    )


if __name__ == "__main__":
    main()
