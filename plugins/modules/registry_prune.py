#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Delete from the registry the images the bundle lock no longer has (check mode: the report)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_prune
short_description: Delete from the local registry the images the current bundle lock no longer names
version_added: 0.1.0
description:
  - Lists the registry's repositories (C(GET /v2/_catalog)) and, in every mirror repository (the full upstream
    path C(image_preload) pushes to, whose first component is a registry host such as C(docker.io) or C(quay.io)),
    its tags. A tag the lock does not name is stale; its manifest is deleted by digest
    (C(DELETE /v2/<name>/manifests/<digest>)), with the child manifests of an index, unless content the lock keeps
    in that repository is the same digest.
  - The platform's own repositories (C(gauntlet/task-api), pushed by the pipeline) and repositories matching
    O(keep) are never touched.
  - Blobs are not deleted here; run the registry's garbage collection afterwards (C(playbooks/prune.yml) does).
  - In check mode nothing is deleted and the result is the report of what would be.
  - Needs deletes enabled on the registry (C(registry_delete_enabled=true), C(storage.delete.enabled)).
options:
  lock_file:
    description: The current bundle lock, C(<gauntlet_bundle_dir>/bundle.lock.json); what it names is kept.
    type: path
    required: true
  registry:
    description: The registry, C(host[:port]).
    type: str
    required: true
  registry_name:
    description:
      - The name image references give the registry (C(registry.local:5000)) when O(registry) is its address, as
        for C(image_preload); images named under it live at their own path.
    type: str
  keep:
    description: Repository patterns (shell style, C(fnmatch)) never pruned, beside the platform's own repositories.
    type: list
    elements: str
    default: []
  username:
    description: Registry user (needs delete permission).
    type: str
  password:
    description: Password of O(username).
    type: str
  concurrency:
    description: Unused by this module (requests are sequential); accepted for the shared connection options.
    type: int
    default: 1
  timeout:
    description: Socket timeout in seconds.
    type: int
    default: 30
  retries:
    description: Retries, with exponential backoff, after a connection error, HTTP 429 or 5xx.
    type: int
    default: 2
notes:
  - Supports check mode (the dry-run report).
  - Manifests that were already untagged before the prune cannot be listed through the registry API and are left.
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
  - gauntlet.platform.registry_connection
seealso:
  - module: gauntlet.platform.image_preload
  - module: gauntlet.platform.registry_inventory_info
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Report what a prune would delete
  gauntlet.platform.registry_prune:
    lock_file: "{{ gauntlet_bundle_dir }}/bundle.lock.json"
    registry: registry.local:5000
    ca_file: "{{ gauntlet_ca_cert }}"
    username: gauntlet
    password: "{{ lookup('ansible.builtin.file', gauntlet_credentials_dir ~ '/registry/password') }}"
  check_mode: true
  register: __prune_report
"""

RETURN = r"""
delete:
  description: The manifests deleted (or, in check mode, that would be), indexes before their children.
  returned: always
  type: list
  elements: dict
  contains:
    repository:
      description: Repository in the registry.
      type: str
      sample: quay.io/keycloak/keycloak
    digest:
      description: Manifest digest.
      type: str
    tags:
      description: The stale tags that named it (empty for a child manifest).
      type: list
      elements: str
    kind:
      description: V(manifest) or V(child manifest).
      type: str
kept_repositories:
  description: Repositories not considered (the platform's own, or matching O(keep)).
  returned: always
  type: list
  elements: str
kept_tags:
  description: Stale tags left in place because they name a digest the lock keeps.
  returned: always
  type: list
  elements: dict
counts:
  description: C(manifests), C(child_manifests), C(stale_tags), C(repositories).
  returned: always
  type: dict
deleted:
  description: Manifests deleted by this run (0 in check mode).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import BundleLockError, load_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryError
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.module import (
    client_from_params,
    connection_argument_spec,
    connection_problem,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.prune import apply_prune, plan_prune


def argument_spec() -> dict:
    return dict(
        lock_file=dict(type="path", required=True),
        registry_name=dict(type="str"),
        keep=dict(type="list", elements="str", default=[]),
        **connection_argument_spec(concurrency=1, timeout=30, retries=2),
    )


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    problem = connection_problem(params)
    if problem:
        module.fail_json(msg=problem)
    try:
        lock = load_lock(params["lock_file"], missing_ok=False)
        client = client_from_params(params)
        try:
            client.ping()
            plan = plan_prune(client, lock, params["registry_name"], params["keep"])
            deleted = 0 if module.check_mode else apply_prune(client, plan)
        finally:
            client.close()
    except ImageRefError as exc:
        module.fail_json(msg=f"registry or image name: {exc}")
    except (BundleLockError, RegistryError, ContentError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=bool(plan["delete"]), deleted=deleted, **plan)


if __name__ == "__main__":
    main()
