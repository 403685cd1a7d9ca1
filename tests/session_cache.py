"""One value per pytest session, shared by fixtures of different test folders.

A fixture in tests/render/conftest.py is visible only to tests under tests/render; the
control-plane tier (tests/cluster) reuses the same expensive render by calling the same
function, which keeps its result here (a module imported by name, so one copy per process),
keyed by the session's base temporary folder. A call that raises (or skips) stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_VALUES: dict[tuple, Any] = {}


def once(key: tuple, make: Callable[[], Any]) -> Any:
    """make()'s value, computed on the first call with ``key`` and returned again after."""
    if key not in _VALUES:
        _VALUES[key] = make()
    return _VALUES[key]
