"""scripts/test runs pytest on two workers; what shares a fixture or an order runs on one.

tests/conftest.py schedules by worker_unit. The first try used `--dist loadgroup` with an
`xdist_group` mark per test: pytest-xdist 3.8 renames `item._nodeid` to carry the group, pytest 9
reads `Node._id`, and the tests of one file ran on both workers (a module fixture started twice,
tests that build on an earlier one of their file failed). The last test runs real workers.
"""

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from worker_units import worker_unit

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("tests/cluster/test_traefik_real.py::test_x[a]", "tests/cluster"),
        ("tests/identity/test_keycloak_real.py::test_y", "tests/identity"),
        ("tests/render/sub/test_z.py::test_z", "tests/render"),
        ("tests/containers/test_seed_image.py::test_a", "tests/containers"),
        ("tests/deployed/test_gitea_cluster.py::test_b", "tests/deployed"),
        ("apps/task-api/tests/test_api.py::test_c", "apps/task-api/tests"),
        ("tests/playbooks/test_k3s_tokens.py::test_d[x::y]", "tests/playbooks/test_k3s_tokens.py"),
        ("tests/services/test_local_ca.py::TestCa::test_e", "tests/services/test_local_ca.py"),
        ("tests/test_upstream_inputs.py::test_f", "tests/test_upstream_inputs.py"),
    ],
)
def test_the_unit_of_a_test(nodeid, unit):
    assert worker_unit(nodeid) == unit


def test_two_workers_keep_each_file_together():
    """Two files of several tests each, on two real workers: each file's tests on one worker."""
    pytest.importorskip("xdist")
    # Two files whose tests need nothing beyond the venv (no upstream copies, no service).
    files = ["tests/unit/plugins/module_utils/test_module_main.py", "tests/unit/test_controller_become.py"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider", *files],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    workers = defaultdict(set)
    for line in result.stdout.splitlines():
        match = re.match(r"\[(gw\d+)\] .*?(PASSED|SKIPPED|FAILED|ERROR) (\S+?)::", line)
        if match:
            workers[match.group(3)].add(match.group(1))
    assert set(workers) == set(files), result.stdout[-3000:]
    assert all(len(names) == 1 for names in workers.values()), dict(workers)
