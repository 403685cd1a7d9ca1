#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Read-only module: report kernel modules and sysctl values against what k3s needs."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_settings_info
short_description: Compare live kernel modules and sysctl values with the wanted ones
version_added: 0.1.0
description:
  - Reads C(/proc/modules), C(/sys/module) and C(/proc/sys) and reports, for every wanted kernel module and
    sysctl, what the kernel has now and whether it matches.
  - A module counts as available when it is loaded, or built into the kernel and visible through one of its
    probe paths (built-in modules without parameters do not appear under C(/sys/module)).
  - Never changes anything, so it is safe in containers where C(/proc/sys) is read-only.
options:
  modules:
    description: Kernel modules that must be available.
    type: list
    elements: str
    default: []
  module_probes:
    description:
      - Extra paths that prove a module is present when it is built in, per module name.
      - For example V(br_netfilter) creates C(/proc/sys/net/bridge).
    type: dict
    default: {}
  sysctl:
    description: Wanted sysctl values, key in dotted form to value.
    type: dict
    default: {}
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check what k3s needs
  gauntlet.platform.kernel_settings_info:
    modules: [br_netfilter, overlay]
    module_probes:
      br_netfilter: [/proc/sys/net/bridge]
    sysctl:
      net.ipv4.ip_forward: 1
  register: kernel
"""

RETURN = r"""
modules:
  description: Per module, whether it is available and how that was seen.
  returned: always
  type: dict
  sample: {"overlay": {"available": true, "seen_in": "/proc/filesystems"}}
sysctl:
  description: Per key, the wanted and the live value (null when the key does not exist) and whether they match.
  returned: always
  type: dict
  sample: {"net.ipv4.ip_forward": {"wanted": "1", "actual": "0", "ok": false}}
mismatches:
  description: Human readable lines, one per module missing or sysctl differing.
  returned: always
  type: list
  elements: str
ok:
  description: True when every module is available and every sysctl matches.
  returned: always
  type: bool
"""

import os

from ansible.module_utils.basic import AnsibleModule


def _read(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError:
        return None


def _normalise(value):
    """sysctl prints multi-value keys with tabs; compare on single spaces."""
    return " ".join(str(value).split())


def module_status(name, probes):
    """Find evidence that kernel module `name` is usable."""
    loaded = _read("/proc/modules") or ""
    if any(line.split(" ", 1)[0] == name for line in loaded.splitlines()):
        return {"available": True, "seen_in": "/proc/modules"}
    if os.path.isdir(f"/sys/module/{name}"):
        return {"available": True, "seen_in": f"/sys/module/{name}"}
    # Built-in filesystems such as overlay are listed here even without /sys/module entries.
    filesystems = _read("/proc/filesystems") or ""
    if any(line.split()[-1] == name for line in filesystems.splitlines() if line.split()):
        return {"available": True, "seen_in": "/proc/filesystems"}
    for path in probes:
        if os.path.exists(path):
            return {"available": True, "seen_in": path}
    return {"available": False, "seen_in": None}


def sysctl_status(key, wanted):
    actual = _read("/proc/sys/" + key.replace(".", "/"))
    actual = None if actual is None else _normalise(actual)
    wanted = _normalise(wanted)
    return {"wanted": wanted, "actual": actual, "ok": actual == wanted}


def run(params):
    modules = {name: module_status(name, params["module_probes"].get(name, [])) for name in params["modules"]}
    sysctl = {key: sysctl_status(key, value) for key, value in sorted(params["sysctl"].items())}
    mismatches = [
        f"kernel module {name} is not loaded or built in" for name, s in modules.items() if not s["available"]
    ]
    for key, status in sysctl.items():
        if not status["ok"]:
            actual = "missing" if status["actual"] is None else status["actual"]
            mismatches.append(f"sysctl {key} is {actual}, wanted {status['wanted']}")
    return {"modules": modules, "sysctl": sysctl, "mismatches": mismatches, "ok": not mismatches}


def main():
    module = AnsibleModule(
        argument_spec={
            "modules": {"type": "list", "elements": "str", "default": []},
            "module_probes": {"type": "dict", "default": {}},
            "sysctl": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    for name, paths in module.params["module_probes"].items():
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            module.fail_json(msg=f"module_probes.{name} must be a list of paths, got {paths!r}")
    module.exit_json(changed=False, **run(module.params))


if __name__ == "__main__":
    main()
