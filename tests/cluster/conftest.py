"""Fixtures of the control-plane tier: the real control plane in its network namespace.

See tests/controlplane.py and docs/testing.md ("The control-plane tier"). The binaries come
from scripts/build-controlplane (scripts/setup runs it); without them, or without root and
`ip netns`, the tier skips with one line, and fails in CI (GAUNTLET_REQUIRE_ALL=1).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from types import SimpleNamespace

import k3s_cluster as k3s_like
import pytest
import upstream
import yaml
from controlplane import REPO, ControlPlane, NetNS, binaries, require_netns, running
from helm_controller_double import HelmControllerDouble

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


@pytest.fixture(scope="module")
def k3s_cluster(request, tmp_path_factory):
    """A control plane of its own for one test module, made to look like a fresh k3s cluster of
    a copy of inventory/sample: a kwok Node per k3s host and k3s's own CRDs and HelmCharts
    (tests/k3s_cluster.py). The inventory copy points the stages at this control plane
    (gauntlet_kubeconfig) and at a credentials folder of its own.

    A test module may set INVENTORY_VARS (more inventory variables), UPSTREAM_BUNDLE = True
    (a bundle folder made of the upstream copies, as the render tests make it, for the
    platform stage's charts and manifests) and HELM_CONTROLLER_DOUBLE = True (the HelmCharts
    with a chartContent are installed by tests/helm_controller_double.py while the module runs).

    Returns a namespace: plane, inventory, credentials, nodes, installed (counts), helm_controller
    (the double or None), run(playbook, *args).
    """
    require_netns()
    folder = binaries()
    upstream.require()
    work = tmp_path_factory.mktemp("k3s-cluster")
    inventory = work / "inventory"
    shutil.copytree(REPO / "inventory" / "sample", inventory)
    credentials = work / "credentials"
    credentials.mkdir(mode=0o700)
    plane = ControlPlane(folder, work / "controlplane", name=f"gauntlet-k3s-{os.getpid()}")
    (inventory / "group_vars" / "all" / "zz-cluster-tier.yml").write_text(
        yaml.safe_dump(
            {
                # The control plane's admin kubeconfig stands in for the one the k3s stage fetches.
                "gauntlet_kubeconfig": str(plane.kubeconfig_path("admin")),
                "gauntlet_credentials_dir": str(credentials),
                # The controller of this run does not resolve the sample's domains (no host
                # stage wrote them); the platform's calls from the controller are not made here.
                "local_domains_controller_check": False,
                **bundle_vars(request, work),
                **getattr(request.module, "INVENTORY_VARS", {}),
            }
        )
    )
    nodes = k3s_like.inventory_nodes(inventory, work / "nodes")
    with running(plane) as started:
        installed = k3s_like.install_k3s(started, nodes)
        helm_controller = None
        if getattr(request.module, "HELM_CONTROLLER_DOUBLE", False):
            helm_controller = HelmControllerDouble(started, work / "helm-controller")
            helm_controller.start()
        try:
            yield SimpleNamespace(
                plane=started,
                inventory=inventory,
                credentials=credentials,
                nodes=nodes,
                installed=installed,
                helm_controller=helm_controller,
                run=lambda playbook, *args, **kw: k3s_like.run_playbook(started, inventory, playbook, *args, **kw),
            )
        finally:
            if helm_controller:
                helm_controller.stop()


def bundle_vars(request, work) -> dict:
    """gauntlet_bundle_dir of a bundle made of the upstream copies, when the module asks for one."""
    if not getattr(request.module, "UPSTREAM_BUNDLE", False):
        return {}
    # The render tier's helper (tests/render/conftest.py), loaded by path: conftest modules
    # are not importable by name under --import-mode=importlib.
    spec = importlib.util.spec_from_file_location("render_conftest", REPO / "tests" / "render" / "conftest.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    bundle = render.make_upstream_bundle(work)[0]
    return {"gauntlet_bundle_dir": str(bundle)}
