# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Result rows of the post-install check (playbooks/verify.yml), and the table they print as.

A row::

    {"check": "pods", "target": "all namespaces", "result": "FAIL",
     "detail": ["2 of 57 pods not Ready", "gitea/gitea-0: Pending: ..."]}

``result`` is ``OK``, ``FAIL`` or ``SKIP``; ``detail`` is a list of lines, the first one a
summary. The modules beside this one decide the rows from what the playbook registered (pure
functions, stdlib only, no network: the playbook does the talking); ``render_table`` turns
them into the table the playbook prints.
"""

from __future__ import annotations

OK = "OK"
FAIL = "FAIL"
SKIP = "SKIP"
RESULTS = (OK, FAIL, SKIP)

# How many problem lines a row lists before "... and N more".
MAX_DETAIL_LINES = 20


class VerifyInputError(ValueError):
    """A check was handed something that is not the payload it expects."""


def make_row(check: str, target: str, result: str, detail=None) -> dict:
    """One table row; ``detail`` is a string or a list of lines (empty lines dropped)."""
    if result not in RESULTS:
        raise VerifyInputError(f"result must be one of {', '.join(RESULTS)}, got {result!r}")
    if detail is None:
        lines = []
    elif isinstance(detail, str):
        lines = detail.splitlines()
    elif isinstance(detail, list | tuple):
        lines = [line for item in detail for line in str(item).splitlines()]
    else:
        raise VerifyInputError(f"detail must be a string or a list of lines, got {type(detail).__name__}")
    return {"check": str(check), "target": str(target), "result": result, "detail": [ln for ln in lines if ln.strip()]}


def limited(problems: list[str], limit: int = MAX_DETAIL_LINES) -> list[str]:
    """The first ``limit`` problems, then how many more there are."""
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit} more"]


# -- the table -------------------------------------------------------------------------

HEADERS = ("CHECK", "TARGET", "RESULT", "DETAIL")


def render_table(rows) -> list[str]:
    """The rows as aligned text lines: a header, one line per row (more for multi-line details), a summary.

    Every line starts with ``|``, so Ansible's output quotes all lines alike (YAML would
    leave some plain and quote others) and the columns stay aligned in JSON and YAML.
    """
    if not isinstance(rows, list):
        raise VerifyInputError("expected a list of result rows")
    clean = []
    for row in rows:
        if not isinstance(row, dict) or row.get("result") not in RESULTS:
            raise VerifyInputError(f"not a result row: {row!r}")
        clean.append(make_row(row.get("check", ""), row.get("target", ""), row["result"], row.get("detail")))
    widths = [len(h) for h in HEADERS[:3]]
    for row in clean:
        for i, key in enumerate(("check", "target", "result")):
            widths[i] = max(widths[i], len(row[key]))

    def line(cells) -> str:
        return (
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + " | " + cells[3]
        ).rstrip()

    out = [line(HEADERS), "|" + "|".join("-" * (w + 2) for w in widths) + "|" + "-" * (len(HEADERS[3]) + 1)]
    for row in clean:
        details = row["detail"] or [""]
        out.append(line((row["check"], row["target"], row["result"], details[0])))
        out.extend(line(("", "", "", extra)) for extra in details[1:])
    counts = {r: sum(1 for row in clean if row["result"] == r) for r in RESULTS}
    out.append(f"| {len(clean)} checks: {counts[OK]} OK, {counts[FAIL]} FAIL, {counts[SKIP]} SKIP")
    return out


def failed_rows(rows) -> list[dict]:
    """The FAIL rows."""
    if not isinstance(rows, list):
        raise VerifyInputError("expected a list of result rows")
    return [row for row in rows if isinstance(row, dict) and row.get("result") == FAIL]
