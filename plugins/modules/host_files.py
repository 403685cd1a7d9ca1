#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Several files and folders of a host in one module run (a converged rerun costs one call)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_files
short_description: Ensure several files and folders on a host in one module run
version_added: 0.1.0
description:
  - Ensures every listed folder exists and every listed file has the given content, with the given owner,
    group and mode. A file is replaced atomically, and only when its content differs.
  - One module run for the whole list. M(ansible.builtin.copy) and M(ansible.builtin.template) run two modules
    per file on a converged host (V(stat), then V(file) for the attributes); a role that writes ten files
    pays twenty remote calls on every rerun, this module one.
  - Contents come from the controller (a template or file lookup in the task), so they are module arguments.
    A secret goes in O(files[].secret_content), which Ansible masks in every output; its diff says only that it
    changed.
  - Supports check mode and diff mode.
options:
  files:
    description: The folders and files, in the order they are made (list a folder before the files in it).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path on the host.
        type: path
        required: true
      state:
        description:
          - V(file) writes O(files[].content); V(directory) makes the folder (not its parents); V(absent) removes a
            file that is no longer used (never a folder).
        type: str
        choices: [file, directory, absent]
        default: file
      content:
        description: The whole content of the file. A file needs this or O(files[].secret_content).
        type: str
      secret_content:
        description: The content of a secret file (keys, tokens, passwords), never shown.
        type: str
      owner:
        description: Owning user name.
        type: str
        default: root
      group:
        description: Owning group name.
        type: str
        default: root
      mode:
        description: Permissions as an octal string, such as V('0644'). Required unless O(files[].state=absent).
        type: str
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Persist the kernel settings for boot
  gauntlet.platform.host_files:
    files:
      - path: /etc/modules-load.d/k3s.conf
        content: "{{ lookup('ansible.builtin.template', 'modules-load.conf.j2') }}"
        mode: "0644"
      - path: /etc/sysctl.d/90-k3s.conf
        content: "{{ lookup('ansible.builtin.template', 'sysctl.conf.j2') }}"
        mode: "0644"
"""

RETURN = r"""
created_paths:
  description: The paths that did not exist before (in check mode, would be created).
  returned: always
  type: list
  elements: str
  sample: [/etc/systemd/system/gauntlet-registry.service]
changed_paths:
  description: The paths that were (in check mode, would be) created or changed, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/sysctl.d/90-k3s.conf]
paths:
  description: Every path of O(files), in the order given (what the task manages, for a converge stamp).
  returned: always
  type: list
  elements: str
  sample: [/etc/modules-load.d/k3s.conf, /etc/sysctl.d/90-k3s.conf]
"""

import grp
import os
import pwd
from ansible.module_utils.basic import AnsibleModule
from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write


class HostFilesError(Exception):
    """An entry that cannot be made as asked."""


def _ids(entry, check_mode: bool) -> tuple[int, int]:
    """The owner's and group's ids. In check mode a user or group an earlier task would have
    created (and check mode only pretended to) is not there yet: -1, which matches no file."""
    ids = []
    for kind, database in (("owner", pwd.getpwnam), ("group", grp.getgrnam)):
        try:
            ids.append(database(entry[kind])[2])
        except KeyError:
            if not check_mode:
                what = "user" if kind == "owner" else "group"
                raise HostFilesError(f"{entry['path']}: {what} {entry[kind]!r} does not exist on this host") from None
            ids.append(-1)
    return ids[0], ids[1]


def _mode(entry) -> int:
    if entry["mode"] is None:
        raise HostFilesError(f"{entry['path']}: mode is required, as an octal string such as '0644'")
    try:
        mode = int(str(entry["mode"]), 8)
    except ValueError:
        raise HostFilesError(f"{entry['path']}: mode {entry['mode']!r} is not an octal string such as '0644'") from None
    if not 0 <= mode <= 0o7777:
        raise HostFilesError(f"{entry['path']}: mode {entry['mode']!r} is out of range")
    return mode


def _attribute_changes(stat, uid: int, gid: int, mode: int) -> list[str]:
    changes = []
    if stat.st_uid != uid or stat.st_gid != gid:
        changes.append(f"owner {stat.st_uid}:{stat.st_gid} -> {uid}:{gid}")
    if stat.st_mode & 0o7777 != mode:
        changes.append(f"mode {stat.st_mode & 0o7777:04o} -> {mode:04o}")
    return changes


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def ensure(entry, check_mode: bool, planned: set) -> tuple[bool, dict | None]:
    """Make one entry as asked: (changed, diff or None). ``planned``: the folders check mode
    would have made so far (the files listed in them are new)."""
    path = entry["path"]
    if not os.path.isabs(path):
        raise HostFilesError(f"{path}: the path must be absolute")
    if entry["state"] == "absent":
        if os.path.isdir(path) and not os.path.islink(path):
            raise HostFilesError(f"{path}: is a folder; state=absent removes files only")
        if not os.path.lexists(path):
            return False, None
        if not check_mode:
            os.unlink(path)
        return True, {"before_header": path, "after_header": f"{path} (removed)", "before": "", "after": ""}
    uid, gid = _ids(entry, check_mode)
    mode = _mode(entry)
    if entry["state"] == "directory":
        if os.path.isdir(path):
            changes = _attribute_changes(os.stat(path), uid, gid, mode)
        elif os.path.lexists(path):
            raise HostFilesError(f"{path}: exists and is not a folder; remove it or choose another path")
        else:
            changes = ["created"]
            planned.add(path)
            if not check_mode:
                os.mkdir(path, mode)
        if changes and not check_mode:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
        return bool(changes), (
            {"before": "", "after": "", "after_header": f"{path}: {', '.join(changes)}"} if changes else None
        )

    secret = entry.get("secret_content") is not None
    text = entry["secret_content"] if secret else entry.get("content")
    if text is None:
        raise HostFilesError(f"{path}: state=file needs content or secret_content")
    if os.path.isdir(path):
        raise HostFilesError(f"{path}: is a folder, not a file")
    if not os.path.isdir(os.path.dirname(path)) and os.path.dirname(path) not in planned:
        raise HostFilesError(f"{path}: its folder does not exist; list the folder before the file")
    data = text.encode("utf-8")
    current = None if os.path.dirname(path) in planned else _read(path)
    content_changed = current != data
    changes = [] if current is None else _attribute_changes(os.stat(path), uid, gid, mode)
    if not content_changed and not changes:
        return False, None
    if not check_mode:
        if content_changed:
            atomic_write(path, data, mode, owner=(uid, gid))
        else:
            os.chown(path, uid, gid)
            os.chmod(path, mode)
    diff = {"before_header": path, "after_header": f"{path} ({', '.join(changes)})" if changes else path}
    if secret:
        diff.update(before="", after="(secret content changed)\n" if content_changed else "")
    else:
        diff.update(before=(current or b"").decode("utf-8", "replace"), after=text)
    return True, diff


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "state": {"type": "str", "choices": ["file", "directory", "absent"], "default": "file"},
                    "content": {"type": "str"},
                    "secret_content": {"type": "str", "no_log": True},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "str"},
                },
            }
        },
        supports_check_mode=True,
    )
    changed_paths, created_paths, diffs, planned = [], [], [], set()
    for entry in module.params["files"]:
        existed = os.path.lexists(entry["path"]) and os.path.dirname(entry["path"]) not in planned
        try:
            changed, diff = ensure(entry, module.check_mode, planned)
        except HostFilesError as exc:
            module.fail_json(msg=str(exc), changed=bool(changed_paths), changed_paths=changed_paths)
        except OSError as exc:
            module.fail_json(
                msg=f"{entry['path']}: {exc.strerror or exc}", changed=bool(changed_paths), changed_paths=changed_paths
            )
        if changed:
            changed_paths.append(entry["path"])
            diffs.append(diff)
        if not existed:
            created_paths.append(entry["path"])
    result = {
        "changed": bool(changed_paths),
        "changed_paths": changed_paths,
        "created_paths": created_paths,
        "paths": [entry["path"] for entry in module.params["files"]],
    }
    if module._diff:  # pylint: disable=protected-access
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
