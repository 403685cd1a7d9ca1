#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Split a bundle into parts for removable media, or join the parts into a bundle again."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_parts
short_description: Split a bundle into parts of a chosen size with a manifest, or join and verify them
version_added: 0.1.0
description:
  - O(state=split) writes the bundle folder O(bundle_dir) as one tar stream cut into C(bundle.tar.part-0001),
    C(bundle.tar.part-0002) ... of at most O(part_size) bytes in O(parts_dir), and C(bundle.parts.json) listing
    every part's size and sha256 and the whole stream's sha256. A folder that already holds the parts of this very
    bundle is left alone; parts of anything else there stop the task (old and new parts never mix).
  - O(state=joined) checks every part listed in C(bundle.parts.json) (present, size, sha256) before writing
    anything, naming each missing or corrupt part (C(part 2 of 5 (bundle.tar.part-0002) is missing)), then
    rebuilds the bundle folder O(bundle_dir) (which must not exist or be empty) and checks the whole stream's
    sha256. Only folders and regular files are extracted, never outside O(bundle_dir). A bundle joined from
    the same parts before is left alone.
  - Authenticity is the signed lock's job (M(gauntlet.platform.bundle_signature)); verify it after joining.
  - Check mode computes and checks, and writes nothing.
options:
  state:
    description: V(split) or V(joined).
    type: str
    choices: [split, joined]
    required: true
  bundle_dir:
    description: The bundle folder (read by V(split), written by V(joined)).
    type: path
    required: true
  parts_dir:
    description: The folder of the parts and C(bundle.parts.json), for example the mounted medium.
    type: path
    required: true
  part_size:
    description: Largest part in bytes (at least 1 MiB), with O(state=split). Choose it below the medium's file size
      limit (FAT32 holds files up to 4 GiB - 1 byte).
    type: int
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Split the bundle for FAT32 sticks
  gauntlet.platform.bundle_parts:
    state: split
    bundle_dir: bundle
    parts_dir: /media/usb/gauntlet
    part_size: "{{ '4000M' | ansible.builtin.human_to_bytes }}"

- name: Join the parts on the controller
  gauntlet.platform.bundle_parts:
    state: joined
    bundle_dir: /srv/gauntlet/bundle
    parts_dir: /media/usb/gauntlet
"""

RETURN = r"""
parts:
  description: The parts, in order, with their size and sha256.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "bundle.tar.part-0001", "size": 4194304000, "sha256": "9f2c..."}]
size:
  description: Bytes of the whole stream.
  returned: always
  type: int
sha256:
  description: sha256 of the whole stream.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.parts import BundlePartsError, join, split


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["split", "joined"], "required": True},
            "bundle_dir": {"type": "path", "required": True},
            "parts_dir": {"type": "path", "required": True},
            "part_size": {"type": "int"},
        },
        required_if=[("state", "split", ["part_size"])],
        supports_check_mode=True,
    )
    params = module.params
    try:
        if params["state"] == "split":
            changed, manifest = split(params["bundle_dir"], params["parts_dir"], params["part_size"], module.check_mode)
        else:
            changed, manifest = join(params["parts_dir"], params["bundle_dir"], module.check_mode)
    except BundlePartsError as exc:
        module.fail_json(msg=f"bundle parts: {exc}")
    except OSError as exc:
        module.fail_json(msg=f"bundle parts: {exc.filename or ''}: {exc.strerror}; check the folder and the free space")
    module.exit_json(changed=changed, parts=manifest["parts"], size=manifest["size"], sha256=manifest["sha256"])


if __name__ == "__main__":
    main()
