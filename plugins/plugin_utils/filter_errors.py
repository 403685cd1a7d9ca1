# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""How a filter reports a bad input: the module_utils error, as AnsibleFilterError named after the filter.

The filters are thin adapters of module_utils functions; their error says which filter
failed ("k8s_overlay: ...") and chains the original exception for the traceback.
"""

from __future__ import annotations

import functools

from ansible.errors import AnsibleFilterError


def filter_errors(*errors):
    """Decorate a filter so that ``errors`` raised in it fail as AnsibleFilterError "<filter name>: <error>"."""

    def decorate(function):
        @functools.wraps(function)
        def filter_function(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except errors as exc:
                raise AnsibleFilterError(f"{function.__name__}: {exc}") from exc

        return filter_function

    return decorate
