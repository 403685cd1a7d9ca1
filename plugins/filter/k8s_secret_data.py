# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter turning a mapping into a Secret's C(data) (docs in k8s_secret_data.yml)."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes, to_text


def k8s_secret_data(values):
    """``{key: value}`` as ``{key: base64(str(value))}``: what ``value | string | b64encode`` writes."""
    if not isinstance(values, Mapping):
        raise AnsibleFilterError(f"k8s_secret_data: expected a mapping, got {type(values).__name__}")
    return {
        str(key): to_text(base64.b64encode(to_bytes(str(value), encoding="utf-8", errors="surrogate_or_strict")))
        for key, value in values.items()
    }


class FilterModule:
    """Secret data from a mapping."""

    def filters(self):
        return {"k8s_secret_data": k8s_secret_data}
