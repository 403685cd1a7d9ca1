#!/usr/bin/python
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_diff
short_description: What changed between two bundle locks (images, versions, sizes, files)
version_added: "0.1.0"
description:
  - Reads two bundle locks and lists the images added, removed and changed (an image whose tag now names
    another digest, or a repository whose one tag was replaced by another, as C(2 -> 3)), with digests,
    sizes and the bytes the new one adds, and the files and wheels added, removed and changed.
  - Returns the report as structured data (RV(changes)) and as lines a person reads (RV(report)); writes the
    structured report as JSON to O(json_file) when given.
  - Sizes come from the lock's manifest and blob lists; a lock written before they existed shows
    C(size unknown).
author:
  - Cloud Native Gauntlet contributors (!UNKNOWN)
options:
  old:
    description: The older lock (C(bundle.lock.json)).
    type: path
    required: true
  new:
    description: The newer lock.
    type: path
    required: true
  json_file:
    description: Write the structured report here as JSON (atomically; unchanged content is not rewritten).
    type: path
notes:
  - Supports check mode (nothing is written to O(json_file)).
seealso:
  - module: gauntlet.platform.bundle_delta
extends_documentation_fragment:
  - gauntlet.platform.attributes
  - gauntlet.platform.attributes.no_diff
"""

EXAMPLES = r"""
- name: What the new bundle changes
  gauntlet.platform.bundle_diff:
    old: /srv/bundle-v1.lock.json
    new: /srv/bundle/bundle.lock.json
  register: bundle_changes

- name: Show it
  ansible.builtin.debug:
    msg: "{{ bundle_changes.report }}"
"""

RETURN = r"""
changes:
  description:
    - C(images) (C(added), C(removed), C(changed) with C(old)/C(new) views of C(name), C(repository), C(tag),
      C(digest), C(size), and C(new_bytes) on the new side; C(unchanged) count), C(files) (the same with
      C(sha256) and C(size)), C(wheels) (C(name), C(version)) and C(new_bytes) (what a differential bundle
      would carry, about).
  returned: always
  type: dict
report:
  description: The same as lines of text.
  returned: always
  type: list
  elements: str
  sample:
    - "images: 0 added, 0 removed, 1 changed, 2 unchanged"
    - "  ~ docker.io/gauntlet/app 2 -> 3 sha256:4f0ad9c1e2b3 -> sha256:9a8b7c6d5e4f; 1.5 MiB -> 1.8 MiB, 0.3 MiB new"
changed:
  description: True when O(json_file) was written.
  returned: always
  type: bool
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.diff import diff_locks, diff_text


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            old=dict(type="path", required=True),
            new=dict(type="path", required=True),
            json_file=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        old = bundle_lock.load_lock(params["old"], missing_ok=False)
        new = bundle_lock.load_lock(params["new"], missing_ok=False)
    except bundle_lock.BundleLockError as exc:
        module.fail_json(msg=f"{exc}; give two bundle.lock.json files (old=..., new=...)")
    diff = diff_locks(old, new)
    report = diff_text(diff, params["old"], params["new"])
    changed = False
    if params["json_file"]:
        text = json.dumps(diff, indent=2, sort_keys=True) + "\n"
        try:
            with open(params["json_file"], encoding="utf-8") as handle:
                changed = handle.read() != text
        except OSError:
            changed = True
        if changed and not module.check_mode:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(params["json_file"])), exist_ok=True)
                atomic_write(params["json_file"], text.encode())
            except OSError as exc:
                module.fail_json(msg=f"json_file: cannot write {params['json_file']}: {exc}")
    module.exit_json(changed=changed, changes=diff, report=report)


if __name__ == "__main__":
    main()
