"""The one place tests find upstream inputs: published manifests, CRDs and chart sources.

They are never copied into the repository. ``GAUNTLET_UPSTREAM_DIR`` names the folder
(relative paths are taken from the repository root); it defaults to ``../shared/upstream``
beside the checkout. It may also name a bundle made by playbooks/bundle.yml (a folder with
``bundle.lock.json`` and ``files/``): bundle files carry the upstream names
(``<project>/<version>/<path>``), so ``files/`` is read.

When the folder is absent or empty, every test that needs it is skipped with one line
saying how to provide it; when it is there but lacks a file, the tests needing that file
are skipped naming it. With ``GAUNTLET_REQUIRE_ALL=1`` (CI, .ci/run) both fail instead.

Use ``path(name)`` / ``glob(pattern)`` (or ``require()`` for the folder) at the start of a
fixture or test, before expensive work: they return paths or skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from needs import REASONS, missing, require_all

__all__ = ["NOT_IN_SHARED", "gap", "glob", "missing", "path", "present", "require", "require_all", "root"]

REPO = Path(__file__).resolve().parent.parent
ENV = "GAUNTLET_UPSTREAM_DIR"
DEFAULT = REPO.parent / "shared" / "upstream"
HOW = (
    f"set {ENV} to a folder of upstream copies (default ../shared/upstream beside the checkout)"
    " or to a bundle made by playbooks/bundle.yml"
)


# Inputs the platform bundles that ../shared/upstream does not carry (yet). The shared folder
# comes with the checkout, not from the project, so a test reading one of them skips naming
# the gap, in CI too; the render fixture stands a named test double in for it so the rest of
# the platform still renders (tests/render/conftest.py, make_upstream_bundle). Give the real
# copy with GAUNTLET_UPSTREAM_DIR (a folder or a bundle) to run those tests.
NOT_IN_SHARED = {
    "linkerd/edge-26.8.3/charts/linkerd2-cni/": "the linkerd2-cni chart of linkerd2 edge-26.8.3",
}


def gap(name: str) -> str | None:
    """What ``name`` is, when it belongs to an input the shared upstream folder lacks."""
    return next((what for prefix, what in NOT_IN_SHARED.items() if f"{name.rstrip('/')}/".startswith(prefix)), None)


def configured() -> Path:
    """The folder GAUNTLET_UPSTREAM_DIR names (or the default), whether or not it exists."""
    value = os.environ.get(ENV)
    return (REPO / value).resolve() if value else DEFAULT


def root() -> Path:
    """Where upstream files are read from: the folder, or a bundle folder's files/."""
    folder = configured()
    if (folder / "bundle.lock.json").is_file() and (folder / "files").is_dir():
        return folder / "files"
    return folder


def present() -> bool:
    folder = root()
    return folder.is_dir() and any(folder.iterdir())


def require() -> Path:
    """The upstream folder; skips (fails in CI) with one line when it is absent or empty."""
    if not present():
        missing(f"upstream inputs not found: {configured()} is absent or empty; {HOW}")
    return root()


def path(name: str) -> Path:
    """The upstream file or folder ``name`` (``<project>/<version>/<path>``), or skip."""
    base = require()
    found = base / name
    if not found.exists():
        what = gap(name)
        if what:
            reason = f"{what} is not in the shared upstream folder {base} (a known gap); {HOW}"
            REASONS.add(reason)
            pytest.skip(reason)
        missing(f"upstream input {name} is not in {base}; {HOW}")
    return found


def glob(pattern: str) -> list[Path]:
    """Upstream files matching ``pattern``, sorted; skips when none matches."""
    base = require()
    found = sorted(base.glob(pattern))
    if not found:
        missing(f"upstream input {pattern} is not in {base}; {HOW}")
    return found
