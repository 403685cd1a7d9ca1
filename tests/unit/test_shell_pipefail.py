"""Shell scripts that set pipefail must not pipe into an early-exit reader.

`grep -q` stops reading at its first match; the writer's next write then gets SIGPIPE and
exits 141, and under `set -o pipefail` the whole pipeline fails although the match was found.
The CI run of 2026-12-05 stopped in scripts/install-traefik this way ("the unpacked binary
does not report version 3.7.8": `traefik version` prints five lines, grep -q quit after the
first). The check is done on the captured output instead (`grep -q ... <<<"$out"`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A pipe whose reader is grep with -q among its options (-q, -qx, -xq, --quiet ...).
EARLY_EXIT_READER = re.compile(r"\|\s*grep\s+(?:-\w*q\w*|--quiet|--silent|(?:-\w+\s+)+-\w*q\w*)\b")


def _shell_scripts() -> list[Path]:
    found = []
    for folder in ("scripts", ".ci", "tests", "molecule"):
        for path in sorted((ROOT / folder).rglob("*")):
            if not path.is_file() or path.suffix in {".py", ".yml", ".yaml", ".j2", ".txt", ".md", ".json"}:
                continue
            head = path.read_bytes()[:64]
            if path.suffix == ".sh" or head.startswith(b"#!/usr/bin/env bash") or head.startswith(b"#!/bin/bash"):
                found.append(path)
    return found


def test_the_scan_finds_the_project_scripts():
    names = {p.relative_to(ROOT).as_posix() for p in _shell_scripts()}
    assert {"scripts/setup", "scripts/install-traefik", "scripts/lib.sh", ".ci/run"} <= names


@pytest.mark.parametrize(
    "line", ['x version | grep -q "^V"', "id -nG u | tr ' ' '\\n' | grep -qx sudo", "a | grep -E -q b"]
)
def test_the_pattern_catches_early_exit_readers(line):
    assert EARLY_EXIT_READER.search(line)


@pytest.mark.parametrize("line", ['grep -q "^V" <<<"$out"', "a | grep -c b", "a | grep b | wc -l"])
def test_the_pattern_leaves_full_readers_alone(line):
    assert not EARLY_EXIT_READER.search(line)


@pytest.mark.parametrize("path", _shell_scripts(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_pipe_into_grep_quiet_under_pipefail(path):
    # Every script is checked, not only those that set pipefail: scripts/lib.sh is sourced by
    # scripts that do.
    text = path.read_text(encoding="utf-8")
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        if not line.lstrip().startswith("#") and EARLY_EXIT_READER.search(line)
    ]
    assert not offending, "a pipe into grep -q fails under pipefail when the writer gets SIGPIPE:\n" + "\n".join(
        offending
    )
