"""A stand-in for the Task API Dockerfile's base, python:3.13-slim, built offline.

The upstream base cannot be fetched here. The stand-in is the project's Debian base image
(scripts/build-base-image; python3 3.11, no pip) plus pip from the wheelhouse scripts/setup
caches for the seed image test (.cache/wheels/task-api/<lock key>-py311): what the
Dockerfile needs of its base (python3 with venv, pip >= 22.3, groupadd/useradd). It is a
test double, named as one; wheels installed into it are CPython 3.11 wheels.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import needs

REPO = Path(__file__).resolve().parents[1]
DEBIAN_BASE = "localhost/gauntlet-debian:bookworm"
WHEELS = REPO / ".cache" / "wheels" / "task-api"
TAG = "localhost/gauntlet-test-python-double:bookworm"


def need(name: str) -> str:
    found = shutil.which(name)
    if not found:
        needs.missing(f"{name} is not installed (Debian packages: scripts/apt-packages.d/images.txt)")
    return found


def run(*argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=timeout)


def build(context: Path) -> tuple[str, Path]:
    """Build the stand-in into containers-storage; (its tag, the py3XX wheelhouse of requirements.lock)."""
    podman = need("podman")
    need("skopeo")
    if run(podman, "image", "exists", DEBIAN_BASE).returncode != 0:
        needs.missing(f"{DEBIAN_BASE} is missing; build it with scripts/build-base-image")
    version = run(
        podman,
        "run",
        "--rm",
        "--network",
        "none",
        DEBIAN_BASE,
        "python3",
        "-c",
        "import sys; print('%d%d' % sys.version_info[:2])",
    )
    assert version.returncode == 0, version.stderr
    lock_key = hashlib.sha256((REPO / "apps/task-api/requirements.lock").read_bytes()).hexdigest()[:16]
    wheels = WHEELS / f"{lock_key}-py{version.stdout.strip()}"
    if not (wheels / ".complete").is_file():
        needs.missing(f"no Task API wheelhouse at {wheels}; run scripts/setup (it downloads them while online)")
    context.mkdir(parents=True, exist_ok=True)
    pip_wheel = sorted(wheels.glob("pip-*.whl"))
    assert pip_wheel, f"{wheels} has no pip wheel; delete it and run scripts/setup again"
    (context / pip_wheel[-1].name).write_bytes(pip_wheel[-1].read_bytes())
    (context / "Containerfile").write_text(
        f"FROM {DEBIAN_BASE}\n"
        f"COPY {pip_wheel[-1].name} /tmp/\n"
        f"RUN python3 /tmp/{pip_wheel[-1].name}/pip install --no-index --break-system-packages "
        f"--root-user-action=ignore /tmp/{pip_wheel[-1].name} && rm /tmp/{pip_wheel[-1].name}\n"
    )
    built = run(podman, "build", "--quiet", "--pull=never", "--network", "none", "--tag", TAG, str(context))
    assert built.returncode == 0, built.stderr[-3000:]
    return TAG, wheels
