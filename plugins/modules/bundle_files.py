#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Record downloaded bundle files, with their sha256, in the bundle lock."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: bundle_files
short_description: Record the bundle's files and their sha256 in the bundle lock
version_added: 0.1.0
description:
  - Hashes every listed file of the bundle (streamed, never read whole into memory) and records
    name, URL, sha256, size and path in the C(files) section of the bundle lock written by
    M(gauntlet.platform.image_bundle). Images already in the lock are kept.
  - The C(files) section is exactly O(files) afterwards. An entry no longer listed (a file dropped from
    C(gauntlet_bundle_files), or the old version's file after an upgrade) is removed from the lock, and
    its file from O(files_dir) (only there, with the folders it leaves empty); see RV(removed).
  - When a file lists an expected O(files[].sha256), a different hash fails the task and the lock is left as it was.
  - "Idempotent: the lock is rewritten (atomically) only when its content changes."
options:
  lock_file:
    description: Path of the bundle lock (JSON); created when missing.
    type: path
    required: true
  files_dir:
    description: Folder the files sit in, by name, when an entry has no O(files[].path).
    type: path
  files:
    description: The files to record.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the file in the lock, for example V(k3s/v1.36.4+k3s1/k3s).
        type: str
        required: true
      path:
        description: Where the file is on disk; defaults to O(files_dir)/O(files[].name).
        type: path
      url:
        description: Where the file was downloaded from.
        type: str
      sha256:
        description: Expected sha256 (64 hex, optionally prefixed C(sha256:)).
        type: str
author:
  - Cloud Native Gauntlet developers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Record the k3s binary
  gauntlet.platform.bundle_files:
    lock_file: bundle/bundle.lock.json
    files:
      - name: k3s/v1.36.4+k3s1/k3s
        path: bundle/files/k3s/v1.36.4+k3s1/k3s
        url: https://github.com/k3s-io/k3s/releases/download/v1.36.4%2Bk3s1/k3s
"""

RETURN = r"""
files:
  description: The entries recorded, sorted by name.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "k3s/v1.36.4+k3s1/k3s", "sha256": "3c1f...", "url": "https://...", "path": "bundle/files/k3s/v1.36.4+k3s1/k3s", "size": 71303168}]
removed:
  description: Names of the entries removed (in check mode, to be removed) from the lock because O(files) no longer lists them.
  returned: always
  type: list
  elements: str
  sample: [k3s/v1.36.3+k3s1/k3s]
"""

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import (
    BundleLockError,
    dump_lock,
    load_lock,
    retain,
    set_file,
    write_lock,
)

_BUFFER = 4 * 1024 * 1024


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def stale_path(files_dir, entry):
    """Where the bundle keeps a removed entry's file: ``files_dir/<name>``, or None when the file is
    elsewhere (an entry recorded with its own path outside files_dir is not the bundle's to delete)."""
    if not files_dir:
        return None
    root = os.path.realpath(files_dir)
    path = os.path.realpath(os.path.join(root, entry["name"]))
    if not path.startswith(root + os.sep):
        return None
    if entry.get("path") and os.path.realpath(entry["path"]) != path:
        return None
    return path


def remove_file(root, path):
    """Delete ``path`` and the folders under ``root`` it leaves empty."""
    if os.path.isfile(path) or os.path.islink(path):
        os.remove(path)
    folder = os.path.dirname(path)
    root = os.path.realpath(root)
    while folder != root and folder.startswith(root + os.sep):
        try:
            os.rmdir(folder)
        except OSError:  # not empty (or already gone)
            break
        folder = os.path.dirname(folder)


def main():
    module = AnsibleModule(
        argument_spec={
            "lock_file": {"type": "path", "required": True},
            "files_dir": {"type": "path"},
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "path": {"type": "path"},
                    "url": {"type": "str"},
                    "sha256": {"type": "str"},
                },
            },
        },
        supports_check_mode=True,
    )
    lock_file = module.params["lock_file"]
    try:
        lock = load_lock(lock_file)
        before = dump_lock(lock)
        removed = retain(lock, "files", [item["name"] for item in module.params["files"]])
        recorded = []
        for item in module.params["files"]:
            if not item.get("path"):
                if not module.params["files_dir"]:
                    module.fail_json(msg=f"bundle file {item['name']}: give its path, or files_dir")
                item["path"] = os.path.join(module.params["files_dir"], item["name"])
            try:
                actual = file_sha256(item["path"])
            except OSError as exc:
                module.fail_json(
                    msg=f"bundle file {item['name']}: cannot read {item['path']} ({exc.strerror}); download it again with playbooks/bundle.yml"
                )
            expected = (item.get("sha256") or "").removeprefix("sha256:").lower()
            if expected and expected != actual:
                module.fail_json(
                    msg=f"bundle file {item['name']} at {item['path']}: sha256 is {actual}, expected {expected}; "
                    "the download is corrupt or the pin is wrong: delete the file and rerun playbooks/bundle.yml"
                )
            recorded.append(
                set_file(
                    lock,
                    item["name"],
                    actual,
                    url=item.get("url"),
                    path=item["path"],
                    size=os.path.getsize(item["path"]),
                )
            )
        after = dump_lock(lock)
    except BundleLockError as exc:
        module.fail_json(msg=f"{exc}; fix or delete the lock file and rerun playbooks/bundle.yml")
    changed = before != after
    if changed and not module.check_mode:
        write_lock(lock_file, lock)
        kept = {os.path.realpath(entry["path"]) for entry in recorded}
        for entry in removed:
            path = stale_path(module.params["files_dir"], entry)
            if path and path not in kept:
                try:
                    remove_file(module.params["files_dir"], path)
                except OSError as exc:
                    module.fail_json(
                        msg=f"bundle file {entry['name']} is no longer listed, but {path} cannot be removed "
                        f"({exc.strerror}); delete it by hand"
                    )
    result = {
        "changed": changed,
        "files": sorted(recorded, key=lambda e: e["name"]),
        "removed": [entry["name"] for entry in removed],
    }
    if module._diff:
        result["diff"] = {"before": before, "after": after, "before_header": lock_file, "after_header": lock_file}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
