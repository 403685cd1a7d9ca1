"""Tests that read upstream inputs take them from GAUNTLET_UPSTREAM_DIR, skip without them, fail in CI.

A plain clone has no ../shared/upstream beside it: its test run must pass, with the tests
that need upstream copies skipped under one summary line that says how to provide them.
With GAUNTLET_REQUIRE_ALL=1 (CI, .ci/run) the same run must fail. Each case runs pytest in a
subprocess on a few tests of every kind that reads upstream files: the session render
fixture (tests/render), a CRD read directly (tests/gitops), a manifest read by a unit test.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = [
    # platform_render: the session fixture every platform render test uses.
    "tests/render/test_platform_render.py::test_pinned_sha256_match_the_upstream_copies",
    "tests/render/test_platform_render.py::test_every_object_validates_strictly",
    # A CRD schema read by the test itself.
    "tests/gitops/test_task_api_manifests.py::test_servicemonitor_validates_against_the_crd",
    # Upstream manifests read by unit tests.
    "tests/unit/plugins/module_utils/test_image_list.py::test_upstream_cnpg_manifest",
    "tests/unit/plugins/module_utils/test_image_list.py::test_upstream_kube_prometheus_manifests",
]
# The tests above that need only files a bundle made by playbooks/bundle.yml holds.
BUNDLE_TESTS = TESTS[2:]


def run_pytest(upstream_dir: Path, tests: list[str], *, require_all: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GAUNTLET_") and not k.startswith("PYTEST_")}
    env["GAUNTLET_UPSTREAM_DIR"] = str(upstream_dir)
    env["COLUMNS"] = "1000"  # summary lines whole
    if require_all:
        env["GAUNTLET_REQUIRE_ALL"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *tests],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def summary_lines(output: str, outcome: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(outcome + " ")]


def test_without_upstream_inputs_they_skip_under_one_line(tmp_path):
    for upstream_dir in (tmp_path / "empty", tmp_path / "absent"):
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = run_pytest(upstream_dir, TESTS, require_all=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert re.search(rf"\b{len(TESTS)} skipped\b", output), output
        assert not re.search(r"\d+ (passed|failed|errors?)\b", output), output
        skipped = summary_lines(output, "SKIPPED")
        assert len(skipped) == 1, output
        assert f"[{len(TESTS)}]" in skipped[0], skipped
        assert "GAUNTLET_UPSTREAM_DIR" in skipped[0] and str(upstream_dir) in skipped[0], skipped
        assert "playbooks/bundle.yml" in skipped[0], skipped


def test_require_all_fails_without_upstream_inputs(tmp_path):
    result = run_pytest(tmp_path, TESTS, require_all=True)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "skipped" not in output.splitlines()[-1], output
    not_passed = summary_lines(output, "FAILED") + summary_lines(output, "ERROR")
    assert len(not_passed) == len(TESTS), output
    assert all("GAUNTLET_REQUIRE_ALL=1" in line for line in not_passed), not_passed


def test_a_bundle_folder_provides_the_files_it_holds(tmp_path):
    """GAUNTLET_UPSTREAM_DIR may name a bundle (bundle.lock.json + files/<upstream name>)."""
    import upstream  # the resolver under test, here to find the real copies to link

    names = [
        "kube-prometheus/v0.18.0/manifests/setup/0servicemonitorCustomResourceDefinition.yaml",
        "cloudnative-pg/1.30.0/cnpg-1.30.0.yaml",
        *(
            f"kube-prometheus/v0.18.0/manifests/{p.name}"
            for p in upstream.glob("kube-prometheus/v0.18.0/manifests/*.yaml")
        ),
    ]
    bundle = tmp_path / "bundle"
    for name in names:
        target = bundle / "files" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(upstream.path(name))
    (bundle / "bundle.lock.json").write_text("{}\n")
    result = run_pytest(bundle, BUNDLE_TESTS, require_all=True)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(rf"\b{len(BUNDLE_TESTS)} passed\b", output), output
    assert "skipped" not in output.splitlines()[-1], output
