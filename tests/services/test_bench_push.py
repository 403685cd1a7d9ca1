"""The push benchmark (tests/bench/bench_push.py) runs, tiny, and states its cold target against a bare upload."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from needs import missing

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_push.py"


def test_bench_compares_cold_push_with_a_bare_upload_into_the_same_registry(tmp_path):
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            missing(f"{tool} is not installed (Debian package listed in scripts/apt-packages.d/images.txt)")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--size-mb",
            "6",
            "--images",
            "2",
            "--concurrency",
            "2",
            "--workdir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # The bare upload: every distinct blob POSTed and PUT once into a fresh registry of the same kind, no checks.
    assert re.search(r"^bare\s+cold\s+[\d.]+ s", out, re.M), out
    assert re.search(r"^ratio ours/bare: cold [\d.]+x \(target <= [\d.]+\)", out, re.M), out
    # The read+hash floor stays as information, without a target the registry on this machine cannot let us reach.
    assert not re.search(r"ratio ours/floor.*target <=", out), out
