# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The errors of the registry client (the message says what to do), and the detail of a registry's error body."""

from __future__ import annotations

import json


class RegistryError(Exception):
    """A registry operation failed; the message says what to do."""

    def __init__(self, msg: str, status: int | None = None, code: str | None = None):
        super().__init__(msg)
        self.status = status
        self.code = code


class RegistryAuthError(RegistryError):
    """Missing or wrong credentials, or access denied."""


class TransientError(RegistryError):
    """A failure worth retrying (connection lost, 5xx, 429)."""


def error_detail(body: bytes) -> tuple[str | None, str]:
    """(first error code, every error as text) of a registry error body, else (None, its first bytes)."""
    try:
        errors = json.loads(body).get("errors") or []
        if errors:
            first = errors[0]
            return first.get("code"), "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
    except (ValueError, AttributeError):
        pass
    text = body[:200].decode("utf-8", "replace").strip()
    return None, text
