# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Options shared by the lookups that read files of the offline bundle, checked against its lock."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  bundle_dir:
    description: The bundle folder (holds C(files/) and C(bundle.lock.json)).
    type: str
    required: true
  base_dir:
    description:
      - For a differential bundle, the base bundle's folder, where the files the delta does not carry are
        (its C(bundle.lock.json) must be the base the delta names). Default is C(gauntlet_bundle_base_dir).
    type: str
"""

    # The terms of the lookups that read bundle files by name (bundle_file, bundle_manifest).
    FILE_NAMES = r"""
options:
  _terms:
    description: Bundle file names, as in C(gauntlet_bundle_files[].name).
    required: true
"""
