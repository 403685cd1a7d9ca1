# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of bundle files: the compact {path: sha256} map into gauntlet_bundle_files entries
(docs in bundle_file_entries.yml), and the check of files against the lock (bundle_files_check.yml)."""

from __future__ import annotations

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import check_bundle_files

_HEX64 = re.compile(r"^[a-f0-9]{64}$")


def bundle_file_entries(files, name_prefix, url_prefix, manifest=False):
    """[{name, url, sha256}] for every path of ``files``, sorted by path."""
    if not isinstance(files, dict) or not files:
        raise AnsibleFilterError("bundle_file_entries: expected a non-empty mapping of path to sha256")
    for label, value in (("name_prefix", name_prefix), ("url_prefix", url_prefix)):
        if not isinstance(value, str) or not value.endswith("/"):
            raise AnsibleFilterError(f"bundle_file_entries: {label} {value!r} must be a string ending in '/'")
    entries = []
    for path in sorted(files):
        sha256 = files[path]
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            raise AnsibleFilterError(f"bundle_file_entries: {path!r} must be a relative path without '..'")
        if not isinstance(sha256, str) or not _HEX64.match(sha256):
            raise AnsibleFilterError(f"bundle_file_entries: {path}: sha256 {sha256!r} must be 64 lower-case hex digits")
        entry = {"name": name_prefix + path, "url": url_prefix + path, "sha256": sha256}
        if manifest:
            entry["manifest"] = True
        entries.append(entry)
    return entries


def bundle_files_check(names, bundle_dir, base_dir=None):
    """{paths: {name: path}, problems: [...]} of the named bundle files; see bundle_files_check.yml."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)):
        raise AnsibleFilterError("bundle_files_check: expected a list of bundle file names")
    if not isinstance(bundle_dir, str) or not bundle_dir:
        raise AnsibleFilterError("bundle_files_check: bundle_dir must be the bundle folder (gauntlet_bundle_dir)")
    paths, problems = check_bundle_files(bundle_dir, list(names), base_dir or None)
    return {"paths": paths, "problems": problems}


class FilterModule:
    """Bundle file list helpers."""

    def filters(self):
        return {"bundle_file_entries": bundle_file_entries, "bundle_files_check": bundle_files_check}
