# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup: the Kubernetes objects of an upstream manifest in the offline bundle."""

from __future__ import annotations

DOCUMENTATION = r"""
name: bundle_manifest
short_description: Kubernetes objects of a manifest file in the offline bundle, checked against the lock
description:
  - Reads C(<bundle_dir>/files/<name>) on the controller after checking its sha256 against
    C(<bundle_dir>/bundle.lock.json), and returns its objects (every YAML document, C(List) items expanded).
  - Fails with a message naming the file and the fix when the lock or the file is missing, the file is
    not in the lock, its sha256 differs, or it is not valid YAML.
extends_documentation_fragment:
  - gauntlet.platform.bundle_lookup
  - gauntlet.platform.bundle_lookup.file_names
"""

EXAMPLES = r"""
- name: Read the Argo CD install manifest
  ansible.builtin.set_fact:
    argocd_upstream: "{{ query('gauntlet.platform.bundle_manifest', 'argo-cd/v3.5.1/install.yaml', bundle_dir=gauntlet_bundle_dir) }}"
"""

RETURN = r"""
_list:
  description: The objects of every file named, in file order.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import (
    BundleFileError,
    bundle_file_path,
    load_manifest,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.bundle_base import bundle_and_base_dir


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        bundle_dir, base = bundle_and_base_dir(self, "bundle_manifest", variables, kwargs)
        objects = []
        for name in terms:
            try:
                objects.extend(load_manifest(bundle_file_path(bundle_dir, name, base)))
            except BundleFileError as exc:
                raise AnsibleLookupError(f"bundle_manifest: {exc}") from None
        return objects
