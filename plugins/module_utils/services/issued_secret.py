# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Secrets a service issues (OAuth2 client secrets, access tokens), kept in the credentials folder.

The credential lookup generates random secrets; some secrets can only come from the
service that checks them (Gitea generates OAuth2 client secrets and access tokens). These
are written here with the same rules as generated credentials: folder 0700, file 0600,
atomic writes, one value per file without a trailing newline on read.

Stdlib only.
"""

from __future__ import annotations

import os
import stat

from ansible_collections.gauntlet.platform.plugins.module_utils.atomic_file import atomic_write


class SecretFileError(Exception):
    """A secret file that cannot be trusted or read; the message says what to do."""


def read_secret(path: str) -> str | None:
    """The secret in ``path``, or None when the file does not exist."""
    if not os.path.exists(path):
        return None
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise SecretFileError(
            f"{path} has mode {mode:04o}; run `chmod 600 {path}` (and rotate the secret if others read it)"
        )
    with open(path, encoding="utf-8") as handle:
        value = handle.read().strip()
    return value or None


def write_secret(path: str, value: str) -> None:
    """Write ``value`` to ``path`` (folder 0700, file 0600), atomically."""
    if not value:
        raise SecretFileError(f"refusing to write an empty secret to {path}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    atomic_write(path, (value + "\n").encode("utf-8"), mode=0o600)
