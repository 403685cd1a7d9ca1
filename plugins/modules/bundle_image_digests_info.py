#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read-only module: every digest a node may report for an image of the bundle lock."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_image_digests_info
short_description: List every digest a node may report for an image of the bundle lock
version_added: 0.1.0
description:
  - Reads the bundle lock (C(bundle.lock.json), written by C(playbooks/bundle.yml)) and, from the bundle's image
    folders (OCI layouts or oci-/docker-archives), the manifest or index of every locked image.
  - Returns the locked digest of every image, and for a multi-architecture image also the digest of each platform
    manifest its index lists and the config digest of each platform manifest the bundle holds. A node reports the
    index digest when it pulled the image by its index, a platform manifest digest when it pulled or imported one
    platform, and a config digest (the image ID) when the image has no repository digest.
  - Used by the C(images) row of C(playbooks/verify.yml). Never changes anything; fails only when the lock or an
    image folder cannot be read, with a message that says what to fix.
options:
  lock_file:
    description: The bundle lock, C(<gauntlet_bundle_dir>/bundle.lock.json).
    type: path
    required: true
  sources:
    description:
      - The bundle's image folders, C(<gauntlet_bundle_dir>/images) by default in the role.
      - A source that does not exist is skipped; images whose index no source holds are known by their locked digest
        only, and RV(notes) says so.
    type: list
    elements: path
    default: []
seealso:
  - module: gauntlet.platform.registry_inventory_info
notes:
  - Supports check mode (it only reads).
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: The digests of the bundle's images
  gauntlet.platform.bundle_image_digests_info:
    lock_file: "{{ gauntlet_bundle_dir }}/bundle.lock.json"
    sources: ["{{ gauntlet_bundle_dir }}/images"]
  register: __digests
  delegate_to: localhost
"""

RETURN = r"""
digests:
  description: Digest -> the lock's image name and what the digest is (V(index), V(manifest), V(platform <os/arch>),
    V(config <os/arch>) or V(config)).
  returned: always
  type: dict
  sample: {"sha256:4c1e...": {"image": "docker.io/library/nginx:1.27", "kind": "platform linux/amd64"}}
images:
  description: Number of images in the lock.
  returned: always
  type: int
notes:
  description: What limits the answer (images whose index the bundle's folders do not hold, sources not found).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import BundleLockError, load_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_archive import open_source
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.images import lock_digests


def run(params: dict) -> dict:
    """The module's answer; raises BundleLockError or ContentError on unreadable input."""
    lock = load_lock(params["lock_file"], missing_ok=False)
    sources = []
    missing = []
    try:
        for path in params["sources"]:
            if not os.path.exists(path):
                missing.append(path)
                continue
            sources.append(open_source(path))
        result = lock_digests(lock, sources)
    finally:
        for source in sources:
            source.close()
    if missing:
        result["notes"].insert(0, f"image folder(s) not found: {', '.join(missing)}")
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            lock_file=dict(type="path", required=True),
            sources=dict(type="list", elements="path", default=[]),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params)
    except (BundleLockError, ContentError, OSError) as exc:
        module.fail_json(msg=f"cannot list the bundle's image digests: {exc}")
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
