# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup: the path of a bundle file on the controller, checked against the bundle lock."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bundle_file
short_description: Path of a file of the offline bundle, after checking its sha256 against the lock
description:
  - Returns C(<bundle_dir>/files/<name>) for each name, after checking the file exists and its sha256 equals the
    entry in C(<bundle_dir>/bundle.lock.json).
  - Fails with a message naming the file and the fix when the lock or the file is missing, the file is not in the
    lock, or its sha256 differs. Use it before copying or unpacking a bundle file to a host.
extends_documentation_fragment:
  - gauntlet.platform.bundle_lookup
  - gauntlet.platform.bundle_lookup.file_names
"""

EXAMPLES = r"""
- name: Unpack the registry from the bundle
  ansible.builtin.unarchive:
    src: "{{ lookup('gauntlet.platform.bundle_file', 'registry/3.1.1/registry_3.1.1_linux_amd64.tar.gz', bundle_dir=gauntlet_bundle_dir) }}"
    dest: /usr/local/lib/gauntlet-registry/3.1.1
"""

RETURN = r"""
_list:
  description: The checked paths.
  type: list
  elements: str
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import BundleFileError, bundle_file_path
from ansible_collections.gauntlet.platform.plugins.plugin_utils.bundle_base import bundle_and_base_dir


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        bundle_dir, base = bundle_and_base_dir(self, "bundle_file", variables, kwargs)
        try:
            return [bundle_file_path(bundle_dir, name, base) for name in terms]
        except BundleFileError as exc:
            raise AnsibleLookupError(f"bundle_file: {exc}") from None
