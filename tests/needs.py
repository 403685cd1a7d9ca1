"""What a test needs but the machine may lack (a tool, upstream inputs): skip, or fail in CI.

A plain clone skips such tests with the reason; with ``GAUNTLET_REQUIRE_ALL=1`` (CI,
.ci/run) they fail instead, so nothing is silently left out there.
"""

import os

import pytest

# Reasons given so far: tests/conftest.py reports each under one summary line.
REASONS: set[str] = set()


def require_all() -> bool:
    """True in CI (GAUNTLET_REQUIRE_ALL=1): missing inputs and tools fail instead of skipping."""
    return os.environ.get("GAUNTLET_REQUIRE_ALL") == "1"


def missing(reason: str):
    """Skip the current test with ``reason`` (one line), or fail it when GAUNTLET_REQUIRE_ALL=1."""
    if require_all():
        pytest.fail(f"GAUNTLET_REQUIRE_ALL=1 but {reason}", pytrace=False)
    REASONS.add(reason)
    pytest.skip(reason)
