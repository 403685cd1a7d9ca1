#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The stamp a role leaves on a host after a full converge, and the one-call check against it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: converge_stamp
short_description: Record that a role converged a host, or check in one call that it still is
version_added: 0.1.0
description:
  - A converged rerun of a role costs one remote call per task. After a full, successful run the role records a
    stamp on the host with this module (O(record=true)); the next run asks the module once (O(record=false)) and
    skips the role when the host is still as the role left it.
  - The stamp holds the fingerprint of the role's inputs, computed on the controller (lookup
    P(gauntlet.platform.converge_inputs#lookup)), and what the role manages on the host, read when recorded
    (type, owner, group and mode of each path, the sha256 of each file, the target of each link), the units that
    must be active and the packages that must be installed.
  - The host is converged when the stamp exists, its fingerprint equals O(fingerprint), O(valid_until) has not
    passed, every path is as recorded, every unit is active and every package installed. Otherwise the
    result says why (RV(reasons)), and the role runs in full.
  - The stamp is a JSON file of mode 0600 in a folder of mode 0700 (root's, on a host reached with become).
  - Supports check mode; in check mode a record is only reported.
options:
  name:
    description: Name of the stamp, the role and entry point it stands for (V(registry), V(registry_trust)).
    type: str
    required: true
  fingerprint:
    description: Digest of the role's inputs; another value means the inputs changed since the stamp.
    type: str
    required: true
  record:
    description: V(true) writes the stamp (after a full converge); V(false) checks the host against it.
    type: bool
    default: false
  paths:
    description: Absolute paths the role manages, read when recording. A path that is missing is recorded as absent.
    type: list
    elements: path
    default: []
  units:
    description: systemd units that must be active (recorded; checked with one C(systemctl is-active) call).
    type: list
    elements: str
    default: []
  packages:
    description: Debian packages that must be installed (recorded; checked with one C(dpkg-query) call).
    type: list
    elements: str
    default: []
  valid_until:
    description: Seconds since the epoch after which the stamp no longer holds (a certificate due for renewal); 0 for never.
    type: int
    default: 0
  dir:
    description: Folder of the stamps.
    type: path
    default: /var/lib/gauntlet/converged
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Compare this host with the stamp of its last converge
  gauntlet.platform.converge_stamp:
    name: host_prep
    fingerprint: "{{ lookup('gauntlet.platform.converge_inputs', 'host_prep') }}"
  register: __host_prep_stamp

- name: Record the converge
  gauntlet.platform.converge_stamp:
    name: host_prep
    fingerprint: "{{ lookup('gauntlet.platform.converge_inputs', 'host_prep') }}"
    record: true
    paths: [/etc/sysctl.d/90-gauntlet-k3s.conf]
    packages: [kmod]
"""

RETURN = r"""
converged:
  description: Whether the host is as the stamp says (always false when recording).
  returned: always
  type: bool
  sample: true
reasons:
  description: Why the host is not converged, one sentence each (empty when it is).
  returned: always
  type: list
  elements: str
  sample: ["/etc/hosts changed since the last converge"]
"""

import hashlib
import json
import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write

VERSION = 1


def path_state(path: str) -> dict:
    """What a path is now: enough to tell any change to it (content, link target, owner, mode)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return {"type": "absent"}
    state = {"uid": info.st_uid, "gid": info.st_gid, "mode": f"{stat.S_IMODE(info.st_mode):04o}"}
    if stat.S_ISLNK(info.st_mode):
        return {**state, "type": "link", "target": os.readlink(path)}
    if stat.S_ISDIR(info.st_mode):
        return {**state, "type": "directory"}
    digest = hashlib.sha256()
    with open(path, "rb") as handle:  # /proc/sys files report size 0: read them whole
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {**state, "type": "file", "sha256": digest.hexdigest()}


def stamp_of(params: dict) -> dict:
    return {
        "version": VERSION,
        "fingerprint": params["fingerprint"],
        "valid_until": params["valid_until"],
        "paths": {path: path_state(path) for path in params["paths"]},
        "units": sorted(params["units"]),
        "packages": sorted(params["packages"]),
    }


def read_stamp(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            stamp = json.load(handle)
    except (FileNotFoundError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) and stamp.get("version") == VERSION else None


def inactive_units(module: AnsibleModule, units: list[str]) -> list[str]:
    """The units that are not active, asked in one call (one state per line, in order)."""
    if not units:
        return []
    rc, out, _err = module.run_command(["systemctl", "is-active", *units])
    states = out.split()
    if rc not in (0, 3) or len(states) != len(units):  # 3: some unit is not active
        return list(units)
    return [unit for index, unit in enumerate(units) if states[index] != "active"]


def missing_packages(module: AnsibleModule, packages: list[str]) -> list[str]:
    if not packages:
        return []
    _rc, out, _err = module.run_command(
        ["dpkg-query", "--show", "--showformat=${Package} ${db:Status-Status}\\n", *packages]
    )
    installed = {line.split()[0].split(":")[0] for line in out.splitlines() if line.endswith(" installed")}
    return [package for package in packages if package not in installed]


def reasons_against(module: AnsibleModule, stamp: dict | None, fingerprint: str, now: float) -> list[str]:
    """Why the host is not converged; empty when it is. Stops at the first cheap reason."""
    if stamp is None:
        return ["no stamp of an earlier converge"]
    if stamp["fingerprint"] != fingerprint:
        return ["the role's inputs changed since the last converge"]
    if stamp["valid_until"] and now >= stamp["valid_until"]:
        return ["the stamp has run out (a certificate is due for renewal)"]
    reasons = [
        f"{path} changed since the last converge" for path, was in stamp["paths"].items() if path_state(path) != was
    ]
    reasons += [f"unit {unit} is not active" for unit in inactive_units(module, stamp["units"])]
    reasons += [f"package {package} is not installed" for package in missing_packages(module, stamp["packages"])]
    return reasons


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "fingerprint": {"type": "str", "required": True},
            "record": {"type": "bool", "default": False},
            "paths": {"type": "list", "elements": "path", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "packages": {"type": "list", "elements": "str", "default": []},
            "valid_until": {"type": "int", "default": 0},
            "dir": {"type": "path", "default": "/var/lib/gauntlet/converged"},
        },
        supports_check_mode=True,
    )
    params = module.params
    if "/" in params["name"] or params["name"] in ("", ".", ".."):
        module.fail_json(msg=f"converge_stamp: {params['name']!r} is no stamp name")
    stamp_file = os.path.join(params["dir"], params["name"] + ".json")
    if not params["record"]:
        reasons = reasons_against(module, read_stamp(stamp_file), params["fingerprint"], time.time())
        module.exit_json(changed=False, converged=not reasons, reasons=reasons)
    content = json.dumps(stamp_of(params), sort_keys=True, indent=1) + "\n"
    try:
        with open(stamp_file, encoding="utf-8") as handle:
            changed = handle.read() != content
    except FileNotFoundError:
        changed = True
    if changed and not module.check_mode:
        os.makedirs(params["dir"], mode=0o700, exist_ok=True)
        atomic_write(stamp_file, content.encode(), mode=0o600)
    module.exit_json(changed=changed, converged=False, reasons=[])


if __name__ == "__main__":
    main()
