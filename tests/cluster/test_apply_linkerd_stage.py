"""playbooks/platform.yml --tags linkerd_install,linkerd_configure in apply mode, with a helm-controller double.

The linkerd role hands Linkerd to k3s's helm-controller: HelmCharts linkerd-crds,
linkerd-control-plane, linkerd-cni and linkerd-viz carry their chart archives, and the role
then waits for what helm-controller makes of them (the policy CRDs Established, identity,
destination and the proxy injector available, the CNI DaemonSet on every node). On this tier
tests/helm_controller_double.py plays helm-controller with the real helm binary (helm
template with the HelmCharts' own values, server-side applied), and kwok makes the pods
Ready on the simulated nodes, so the role's own waits run to their end.

Left out: the linkerd_verify part (its dashboard checks call linkerd-viz's web through the ingress;
no container runs here). The linkerd-cni chart is not in the shared upstream copies; the
upstream bundle carries a named test double of it (tests/render/conftest.py) that renders
nothing, so the module puts in a stand-in DaemonSet linkerd-cni (a named test double) for the
role's CNI wait.

The tests of this module run in file order and share one control plane (module scope).
"""

from __future__ import annotations

import time

import k3s_cluster as k3s_like
import pytest

pytestmark = pytest.mark.controlplane

UPSTREAM_BUNDLE = True
HELM_CONTROLLER_DOUBLE = True
# Its install and configure parts (README "Tags": --skip-tags linkerd_verify would also skip the
# certificates, which carry the verify tag too).
TAGS = ["--tags", "linkerd_install,linkerd_configure"]
CHARTS = {"linkerd-crds", "linkerd-control-plane", "linkerd-cni", "linkerd-viz"}
RUNS: dict[str, object] = {}


def test_check_mode_on_the_fresh_cluster_completes(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS, "--check", "--diff")
    RUNS["check_fresh"] = run
    assert run.returncode == 0, run.explain()
    assert any(t.endswith("apply | Apply every object") for t in run.changed_tasks), run.explain()
    charts = k3s_cluster.plane.resource("helm.cattle.io/v1", "HelmChart").get().to_dict()["items"]
    assert not CHARTS & {c["metadata"]["name"] for c in charts}  # check mode created nothing


def linkerd_cni_stand_in(k3s_cluster) -> None:
    """A TEST DOUBLE for what the linkerd2-cni chart would install: the linkerd2-cni chart of
    edge-26.8.3 is not in the shared upstream folder (tests/upstream.py NOT_IN_SHARED), so the
    bundle carries a chart double that renders nothing. The role's wait reads only the
    DaemonSet linkerd-cni in its namespace; this one, tolerating every taint like the chart's,
    is what kwok makes Ready on every node."""
    plane = k3s_cluster.plane
    plane.resource("v1", "Namespace").server_side_apply(
        body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "linkerd-cni"}}, field_manager="test-double"
    )
    labels = {"k8s-app": "linkerd-cni"}
    plane.resource("apps/v1", "DaemonSet").server_side_apply(
        namespace="linkerd-cni",
        field_manager="test-double",
        body={
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {
                "name": "linkerd-cni",
                "namespace": "linkerd-cni",
                "labels": {**labels, "test-double": "true"},
            },
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "install-cni", "image": "test-double.invalid/linkerd-cni:none"}],
                    },
                },
            },
        },
    )


def test_first_apply_runs_the_roles_waits_to_their_end(k3s_cluster):
    linkerd_cni_stand_in(k3s_cluster)
    run = k3s_cluster.run("platform.yml", *TAGS)
    RUNS["first"] = run
    double = k3s_cluster.helm_controller
    assert run.returncode == 0, run.explain() + f"\nhelm-controller double errors: {double.errors}"
    for wait in (
        "crds | Wait for the policy CRDs to be established",
        "control_plane | Wait for identity, destination and the proxy injector",
        "cni | Wait for the linkerd-cni DaemonSet on every node",
    ):
        assert wait in run.stdout, wait
    # The viz chart is applied but not waited for by these tags (its wait is linkerd_verify's):
    # the helm-controller double installs it on its own time, as k3s's would.
    deadline = time.monotonic() + 180
    while not {key.split("/")[1] for key in double.installed} >= CHARTS and time.monotonic() < deadline:
        time.sleep(1)
    assert {key.split("/")[1] for key in double.installed} >= CHARTS, double.installed
    plane = k3s_cluster.plane
    deployments = plane.resource("apps/v1", "Deployment").get(namespace="linkerd").to_dict()["items"]
    assert {"linkerd-identity", "linkerd-destination", "linkerd-proxy-injector"} <= {
        d["metadata"]["name"] for d in deployments
    }
    for deployment in deployments:
        status = deployment.get("status") or {}
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], deployment["metadata"]["name"]


def test_second_apply_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS)
    RUNS["second"] = run
    k3s_like.assert_unchanged(run)


def test_check_mode_on_the_converged_cluster_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS, "--check", "--diff")
    RUNS["check_converged"] = run
    k3s_like.assert_unchanged(run)


def test_report_timings(k3s_cluster, record_property):
    """Timings and counts of the runs above (printed with -rP, recorded as properties)."""
    if not {"first", "second"} <= RUNS.keys():
        pytest.skip("the apply runs did not happen")
    k3s_like.report_runs(RUNS, record_property)
    print(f"helm-controller double: {k3s_cluster.helm_controller.installed}")
