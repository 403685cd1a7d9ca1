"""Make the checkout importable as ansible_collections.gauntlet.platform.

The repository root is the collection; collections/ansible_collections/gauntlet/platform
is a committed symlink to it, so putting collections/ on sys.path is enough.
Upstream inputs (manifests, CRDs, charts) come from one folder: see tests/upstream.py.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS_DIR = REPO_ROOT / "collections"

if str(COLLECTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS_DIR))
# Plain helper modules shared by tests (tls_material) import by name under importlib mode.
if str(REPO_ROOT / "tests") not in sys.path:
    sys.path.insert(1, str(REPO_ROOT / "tests"))

import needs  # noqa: E402 - helpers beside this file, importable once tests/ is on sys.path
import upstream  # noqa: E402
from oci_images import TestImages  # noqa: E402
from playbook_runs import playbook_command  # noqa: E402
from registry_server import Registry, start_token_registry  # noqa: E402
from worker_units import worker_unit  # noqa: E402


def pytest_report_header(config):
    state = "present" if upstream.present() else "ABSENT: tests that read them skip; " + upstream.HOW
    required = ", required (GAUNTLET_REQUIRE_ALL=1)" if upstream.require_all() else ""
    return f"upstream inputs: {upstream.root()} ({state}){required}"


# Each folder of tests/ is a tier named for what its tests need (docs/testing.md, "Test tiers"); every
# test in it carries the tier's marker, so `pytest -m playbooks` runs what `pytest tests/playbooks` runs.
# tests/cluster's marker is the one its modules already carry: `cluster` means a KUBECONFIG (tests/deployed).
TIER_MARKERS = {
    "unit": "unit",
    "render": "render",
    "gitops": "gitops",
    "playbooks": "playbooks",
    "services": "services",
    "containers": "containers",
    "deployed": "deployed",
    "cluster": "controlplane",
    "identity": "identity",
}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items):
    tests = REPO_ROOT / "tests"
    for item in items:
        path = item.path.resolve()
        if not path.is_relative_to(tests) or len(path.relative_to(tests).parts) < 2:
            continue  # apps/task-api/tests, or a module at the top of tests/ (test_upstream_inputs.py)
        folder = path.relative_to(tests).parts[0]
        if folder not in TIER_MARKERS:
            raise pytest.UsageError(
                f"tests/{folder}/ is not a tier: add it to TIER_MARKERS (tests/conftest.py), "
                "to the markers in pyproject.toml and to the table in docs/testing.md"
            )
        item.add_marker(TIER_MARKERS[folder])


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: without pytest-xdist it is never called
def pytest_xdist_make_scheduler(config, log):
    """Schedule by worker_unit. Not --dist loadgroup: pytest-xdist 3.8 marks a group by renaming
    item._nodeid, which pytest 9 no longer reads (Node.nodeid comes from Node._id), so groups are lost."""
    from xdist.scheduler import LoadScopeScheduling  # pylint: disable=import-outside-toplevel

    class WorkerUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_unit(nodeid)

    return WorkerUnitScheduling(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Skips for a missing input or tool (needs.missing) fold into one summary line per reason.

    pytest reports a skip raised in a fixture at the test's own location, so 147 render
    tests skipped by one absent folder would print 147 lines; report them where they are
    decided instead.
    """
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple):
        message = report.longrepr[2]
        if message.removeprefix("Skipped: ") in needs.REASONS:
            report.longrepr = (needs.__file__, needs.missing.__code__.co_firstlineno, message)
    return report


@pytest.fixture
def ansible_env():
    """The checkout's ansible.cfg, with no fact cache shared between tests."""

    def make(tmp_path):
        return dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
            ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )

    return make


@pytest.fixture
def run_playbook(tmp_path, ansible_env):
    """Run playbooks/<playbook>; ``isolated=True`` runs it in a loopback-only network namespace.

    Use ``isolated`` whenever the inventory names addresses the test must never reach
    (inventory/sample's hosts); test doubles on this machine's loopback are not reachable
    from inside the namespace.
    """

    def run(playbook, inventory, *args, isolated=False):
        return subprocess.run(
            playbook_command(playbook, inventory, *args, isolated=isolated),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            env=ansible_env(tmp_path),
            check=False,
            timeout=300,
        )

    return run


# -- real registries and image content (tests/services, tests/containers) -----------------------


@pytest.fixture
def registry_factory(tmp_path):
    """Start real registries (tests/registry_server.py Registry: ``auth``, ``tls``); all stop after the test."""
    started = []

    def start(**kwargs) -> Registry:
        reg = Registry(tmp_path / f"registry{len(started)}", **kwargs)
        started.append(reg)
        return reg

    yield start
    for reg in started:
        reg.stop()


@pytest.fixture
def registry(registry_factory) -> Registry:
    return registry_factory()


@pytest.fixture(scope="session")
def test_images() -> TestImages:
    return TestImages()


@pytest.fixture
def token_registry(tmp_path):
    """A docker-registry with bearer-token auth backed by a TokenServer (``.tokens``)."""
    reg = start_token_registry(tmp_path / "token-registry")
    yield reg
    reg.stop()
    reg.tokens.stop()
