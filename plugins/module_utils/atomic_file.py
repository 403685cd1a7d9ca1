# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Write a file so readers see the old content or the new, never half of it.

Stdlib only.
"""

from __future__ import annotations

import os
import tempfile


def atomic_write(path: str, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`; `owner`:
    (uid, gid) the new file gets before it appears."""
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if owner is not None:
            os.chown(tmp, *owner)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
