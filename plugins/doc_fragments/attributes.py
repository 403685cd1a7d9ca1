# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Documentation fragment: the check and diff mode attributes the collection's modules share."""

from __future__ import annotations


class ModuleDocFragment:
    # What each attribute means; every module that uses a support fragment below uses this too.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Returns details on what has changed (or would change in check_mode) when in diff mode.
"""

    # Modules that change nothing in check mode and return no diff (readers, and writers
    # whose report is their own result).
    NO_DIFF = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

    # Modules that change nothing in check mode and return a diff of what they change.
    WITH_DIFF = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""
