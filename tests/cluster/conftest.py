"""Fixtures of the control-plane tier: the real control plane in its network namespace.

See tests/controlplane.py and docs/testing.md ("The control-plane tier"). The binaries come
from scripts/build-controlplane (scripts/setup runs it); without them, or without root and
`ip netns`, the tier skips with one line, and fails in CI (GAUNTLET_REQUIRE_ALL=1).
"""

from __future__ import annotations

import os

import pytest
from controlplane import ControlPlane, NetNS, binaries, require_netns, running

# The simulated nodes of the smoke tests; the platform tests add one per inventory host.
NODES = ("kwok-server-1", "kwok-agent-1")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory):
    """The running control plane (kine, kube-apiserver, kube-controller-manager,
    kube-scheduler, kwok) with NODES registered; torn down after the session."""
    require_netns()
    folder = binaries()
    with running(ControlPlane(folder, tmp_path_factory.mktemp("controlplane")), NODES) as plane:
        yield plane


@pytest.fixture
def netns():
    """A network namespace of its own (only loopback up), without the control plane."""
    require_netns()
    ns = NetNS(f"gauntlet-ns-{os.getpid()}")
    yield ns
    ns.close()
