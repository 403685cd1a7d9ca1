#!/usr/bin/python
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_delta
short_description: Write a differential bundle holding only what an older bundle lacks
version_added: "0.1.0"
description:
  - Compares the full bundle in O(bundle_dir) (its lock, written by M(gauntlet.platform.image_bundle)
    and M(gauntlet.platform.bundle_files)) with the lock of an older bundle, O(since), and writes into O(dest)
    the files whose sha256 differs or that are new, the wheels, and an OCI image layout with the changed
    and new images' manifests and only the blobs (configs, layers) the older lock does not list. A layer
    shared with the base is not carried.
  - The delta's C(bundle.lock.json) is complete (it describes the whole target state), names its base
    (the base lock's file name, path and sha256) and marks every file, image and blob C(carried) or not.
    Sign it like any lock (M(gauntlet.platform.bundle_signature)).
  - Files and blobs are hard-linked from the full bundle (copied across file systems). O(dest) is
    replaced as a whole; a folder that is not empty and is not a differential bundle is never touched.
  - Idempotent. An unchanged delta (same lock, every carried file and blob present) is left alone.
author:
  - Cloud Native Gauntlet contributors (!UNKNOWN)
options:
  bundle_dir:
    description: The full bundle (C(files/), C(images/), C(wheels/), C(bundle.lock.json)).
    type: path
    required: true
  since:
    description:
      - The lock of the older bundle the controller already has (a copy of its C(bundle.lock.json)).
      - Must not be the full bundle's own lock, which the bundle run rewrites.
    type: path
    required: true
  dest:
    description: Folder of the differential bundle; created, or replaced when it holds an earlier delta.
    type: path
    required: true
notes:
  - Supports check mode (reports what the delta would carry, writes nothing).
seealso:
  - module: gauntlet.platform.bundle_diff
  - module: gauntlet.platform.image_preload
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
"""

EXAMPLES = r"""
- name: Write the differential bundle over the bundle the controller has
  gauntlet.platform.bundle_delta:
    bundle_dir: /srv/bundle
    since: /srv/bundle-v1.lock.json
    dest: /srv/bundle-delta
"""

RETURN = r"""
lock_file:
  description: The delta's lock.
  returned: always
  type: str
base:
  description: The base the delta names (C(name), C(path), C(sha256) of its lock).
  returned: always
  type: dict
files:
  description: Files carried (C(name), C(sha256), C(size)).
  returned: always
  type: list
  elements: dict
images:
  description: Images whose manifests are carried (C(name), C(digest)).
  returned: always
  type: list
  elements: dict
blobs:
  description: Manifests and blobs carried (C(digest), C(size)).
  returned: always
  type: list
  elements: dict
bytes:
  description: Bytes of carried blobs and files.
  returned: always
  type: int
files_from_base:
  description: Files the delta expects from the base bundle's folder.
  returned: always
  type: list
  elements: str
images_from_base:
  description: Images the delta expects in the registry already.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.delta import DeltaError, plan_delta, write_delta
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout


def argument_spec() -> dict:
    return dict(
        bundle_dir=dict(type="path", required=True),
        since=dict(type="path", required=True),
        dest=dict(type="path", required=True),
    )


def run(module: AnsibleModule) -> dict:
    params = module.params
    full_lock_path = os.path.join(params["bundle_dir"], "bundle.lock.json")
    since = params["since"]
    if not os.path.isfile(since):
        raise DeltaError(
            f"since: the base lock {since} does not exist; give the bundle.lock.json of the bundle the controller has"
        )
    if os.path.realpath(since) == os.path.realpath(full_lock_path):
        raise DeltaError(
            f"since: {since} is the full bundle's own lock, which this run rewrites; copy the old lock aside "
            "before building (cp bundle/bundle.lock.json bundle-v1.lock.json) and give the copy"
        )
    full = bundle_lock.load_lock(full_lock_path, missing_ok=False)
    images_dir = os.path.join(params["bundle_dir"], "images")
    layout = OciLayout(images_dir) if os.path.isfile(os.path.join(images_dir, "oci-layout")) else None
    delta = plan_delta(full, since, layout)
    return write_delta(params["bundle_dir"], params["dest"], delta, check_mode=module.check_mode)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    try:
        result = run(module)
    except (DeltaError, bundle_lock.BundleLockError, ContentError) as exc:
        module.fail_json(msg=str(exc))
    except OSError as exc:
        module.fail_json(msg=f"cannot write the differential bundle: {exc}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
