# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters of the post-install check's certificates rows (docs in verify_certificate*.yml)."""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.verify import certificates as vc
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import VerifyInputError


def _filter(name, func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (VerifyInputError, TypeError, KeyError, AttributeError, ValueError) as exc:
            raise AnsibleFilterError(f"{name}: {exc}") from exc

    return wrapper


class FilterModule:
    """The certificates rows of the post-install check."""

    def filters(self):
        return {
            "verify_certificates": _filter("verify_certificates", vc.hosts_rows),
            "verify_certificate_secret": _filter("verify_certificate_secret", vc.secret_row),
        }
