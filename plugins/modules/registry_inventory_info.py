#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read-only module: is every image of the bundle lock in the registry, with its digest?"""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: registry_inventory_info
short_description: Check that a registry holds every image of the bundle lock
version_added: 0.1.0
description:
  - Reads the bundle lock (C(bundle.lock.json), written by C(playbooks/bundle.yml)) and asks the registry, for
    every image, for the manifest by the locked digest (C(HEAD /v2/<repository>/manifests/<digest>)) and for its
    tag, at the image's full upstream path under the registry, as C(image_preload) pushed it
    (C(quay.io/keycloak/keycloak:26.7.4) is C(<registry>/quay.io/keycloak/keycloak)).
  - An image is V(present) when the digest is there and the tag names it, V(tag_mismatch) when the digest is there
    but the tag names something else (or nothing), V(missing) when the digest is not there.
  - Never changes anything; fails only when the lock cannot be read or the registry cannot be asked (unreachable,
    TLS or credentials refused), with a message that says what to fix.
  - Stdlib only, through the collection's registry client (basic and bearer-token auth).
options:
  lock_file:
    description: The bundle lock, C(<gauntlet_bundle_dir>/bundle.lock.json).
    type: path
    required: true
  registry:
    description: The registry, C(host[:port]), for example C(registry.local:5000).
    type: str
    required: true
  images:
    description: Check only these images of the lock (names as the lock writes them). Default is every image.
    type: list
    elements: str
  username:
    description: Registry user.
    type: str
  password:
    description: Password of O(username).
    type: str
  concurrency:
    description: Requests in flight at once.
    type: int
    default: 8
  timeout:
    description: Socket timeout in seconds.
    type: int
    default: 30
  retries:
    description: Retries, with exponential backoff, after a connection error, HTTP 429 or 5xx.
    type: int
    default: 2
seealso:
  - module: gauntlet.platform.image_preload
notes:
  - Supports check mode (it only reads).
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
  - gauntlet.platform.registry_connection
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Compare the registry with the bundle lock
  gauntlet.platform.registry_inventory_info:
    lock_file: "{{ gauntlet_bundle_dir }}/bundle.lock.json"
    registry: registry.local:5000
    ca_file: "{{ gauntlet_ca_cert }}"
    username: gauntlet
    password: "{{ lookup('ansible.builtin.file', gauntlet_credentials_dir ~ '/registry/password') }}"
  register: __inventory
  no_log: true
"""

RETURN = r"""
images:
  description: One entry per image of the lock (or of O(images)), sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The image's full upstream reference, as in the lock.
      type: str
      sample: quay.io/keycloak/keycloak:26.7.4
    target:
      description: Its repository and reference in the registry.
      type: str
      sample: registry.local:5000/quay.io/keycloak/keycloak:26.7.4
    digest:
      description: The digest the lock records.
      type: str
    status:
      description: V(present), V(tag_mismatch) or V(missing).
      type: str
    tag_digest:
      description: What the tag names in the registry (null when the tag is absent or the image is pinned by digest only).
      type: str
counts:
  description: Number of images per status.
  returned: always
  type: dict
  sample: {"present": 61, "missing": 1, "tag_mismatch": 0}
"""

from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import BundleLockError, load_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import (
    ImageRefError,
    parse_image,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryError
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.module import (
    client_from_params,
    connection_argument_spec,
    connection_problem,
)

STATUSES = ("present", "tag_mismatch", "missing")


def argument_spec() -> dict:
    return dict(
        lock_file=dict(type="path", required=True),
        images=dict(type="list", elements="str"),
        **connection_argument_spec(concurrency=8, timeout=30, retries=2),
    )


def locked_images(lock: dict, only: list[str] | None) -> list[dict]:
    """The lock's image entries, restricted to ``only`` (every name of it must be in the lock)."""
    entries = sorted(lock.get("images", []), key=lambda e: e["name"])
    if not only:
        return entries
    by_name = {e["name"]: e for e in entries}
    unknown = sorted(set(only) - set(by_name))
    if unknown:
        raise BundleLockError(f"images not in the bundle lock: {', '.join(unknown)}")
    return [by_name[name] for name in sorted(set(only))]


def inspect_image(client: RegistryClient, entry: dict) -> dict:
    """Ask the registry for one locked image: by digest, then by tag."""
    ref = parse_image(entry["name"]).mirror(client.registry)
    digest = entry["digest"]
    result = {
        "name": entry["name"],
        "target": f"{ref.registry}/{ref.repository}:{ref.tag}" if ref.tag else f"{ref.registry}/{ref.repository}",
        "digest": digest,
        "tag_digest": None,
    }
    if client.manifest_digest(ref.repository, digest) is None:
        result["status"] = "missing"
        return result
    if ref.tag:
        found = client.manifest_digest(ref.repository, ref.tag)
        result["tag_digest"] = found[0] if found else None
        if result["tag_digest"] != digest:
            result["status"] = "tag_mismatch"
            return result
    result["status"] = "present"
    return result


def check_registry(client: RegistryClient, entries: list[dict], concurrency: int = 8) -> dict:
    """{images, counts} for the entries; raises RegistryError when the registry cannot be asked."""
    if entries:
        client.ping()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        images = list(pool.map(lambda e: inspect_image(client, e), entries))
    counts = {status: sum(1 for i in images if i["status"] == status) for status in STATUSES}
    return {"images": images, "counts": counts}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    problem = connection_problem(params, registry_label="registry or image name")
    if problem:
        module.fail_json(msg=problem)
    try:
        entries = locked_images(load_lock(params["lock_file"], missing_ok=False), params["images"])
        client = client_from_params(params)
        try:
            result = check_registry(client, entries, params["concurrency"])
        finally:
            client.close()
    except ImageRefError as exc:
        module.fail_json(msg=f"registry or image name: {exc}")
    except (BundleLockError, RegistryError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
