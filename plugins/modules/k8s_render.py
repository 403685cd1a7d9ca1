#!/usr/bin/python
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Write a component's Kubernetes objects into the render directory, one file each."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_render
short_description: Write Kubernetes objects into a render folder, one YAML file per object
version_added: 0.1.0
description:
  - Writes every object of O(objects) to C(<dir>/<component>/<NN>-<kind>-<namespace>-<name>.yaml) as block YAML
    with sorted keys, and removes the C(*.yaml) files of that folder that no object has any more.
  - A file is rewritten (atomically) only when its content changes, so a second render is byte-identical and
    reports C(changed=false). Secrets are written with mode 0600, everything else 0644.
  - One task for a whole component; this is what render mode of the role C(gauntlet.platform.k8s_objects) runs.
options:
  dir:
    description: The render directory (C(gauntlet_render_dir)).
    type: path
    required: true
  component:
    description: The component's folder name (lower case letters, digits, C(-) and C(_)).
    type: str
    required: true
  objects:
    description: The objects, in apply order.
    type: list
    elements: dict
    required: true
notes:
  - Supports check mode (nothing written, the changes reported) and diff mode (file names only; contents may hold
    secrets).
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Render the Traefik objects
  gauntlet.platform.k8s_render:
    dir: "{{ gauntlet_render_dir }}"
    component: traefik
    objects: "{{ __traefik_objects }}"
  delegate_to: localhost
  no_log: true
"""

RETURN = r"""
written:
  description: Files written (new or changed), relative to the component folder.
  type: list
  elements: str
  returned: always
removed:
  description: Stale files removed, relative to the component folder.
  type: list
  elements: str
  returned: always
files:
  description: Every file of the component, in apply order.
  type: list
  elements: str
  returned: always
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.config import K3sConfigError, object_filename

_COMPONENT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def dump(obj) -> bytes:
    """Block YAML with sorted keys, the layout to_nice_yaml(indent=2, sort_keys=true) gives."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(
        obj, Dumper=dumper, indent=2, default_flow_style=False, sort_keys=True, allow_unicode=True
    ).encode()


def plan(folder: str, objects: list) -> tuple[dict, list]:
    """Files to write (name -> (bytes, mode)) and stale files to remove."""
    wanted = {}
    for index, obj in enumerate(objects):
        name = object_filename(obj, index)
        if name in wanted:
            raise K3sConfigError(f"{obj['kind']} {obj['metadata']['name']} appears twice")
        wanted[name] = (dump(obj), 0o600 if obj["kind"] == "Secret" else 0o644)
    present = sorted(f for f in os.listdir(folder) if f.endswith(".yaml")) if os.path.isdir(folder) else []
    return wanted, [f for f in present if f not in wanted]


def needs_write(path: str, content: bytes, mode: int) -> bool:
    try:
        with open(path, "rb") as handle:
            same = handle.read() == content
        return not same or (os.stat(path).st_mode & 0o777) != mode
    except FileNotFoundError:
        return True


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            "component": {"type": "str", "required": True},
            "objects": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    component = module.params["component"]
    if not _COMPONENT.match(component):
        module.fail_json(msg=f"component must be a lowercase folder name (letters, digits, - and _), got {component!r}")
    folder = os.path.join(module.params["dir"], component)
    try:
        wanted, stale = plan(folder, module.params["objects"])
    except K3sConfigError as exc:
        module.fail_json(msg=f"component {component}: {exc}")
    written = [
        name for name, (content, mode) in wanted.items() if needs_write(os.path.join(folder, name), content, mode)
    ]
    changed = bool(written or stale)
    if changed and not module.check_mode:
        try:
            os.makedirs(folder, mode=0o755, exist_ok=True)
            for name in written:
                content, mode = wanted[name]
                atomic_write(os.path.join(folder, name), content, mode=mode)
            for name in stale:
                os.unlink(os.path.join(folder, name))
        except OSError as exc:
            module.fail_json(msg=f"cannot write the render folder {folder}: {exc.strerror} ({exc.filename})")
    result = {"changed": changed, "written": written, "removed": stale, "files": list(wanted)}
    if module._diff and changed:
        result["diff"] = {
            "before": "".join(
                f"{n}\n"
                for n in sorted(set(stale) | (set(written) & set(os.listdir(folder) if os.path.isdir(folder) else [])))
            ),
            "after": "".join(f"{n}\n" for n in written),
            "before_header": folder,
            "after_header": folder,
        }
    module.exit_json(**result)


if __name__ == "__main__":
    main()
