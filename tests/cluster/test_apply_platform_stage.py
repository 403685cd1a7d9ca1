"""playbooks/platform.yml in apply mode against the real control plane, stage by stage.

The monitoring stage (``--tags monitoring``): kube-prometheus's CRDs and objects, the
platform's own rules, dashboards and credentials, applied by kubernetes.core to kube-apiserver
v1.36.x made to look like a fresh k3s cluster (tests/k3s_cluster.py), with the role's own wait
for its Deployments and DaemonSet (kwok makes their pods Running and Ready on the simulated
nodes): --check --diff on the fresh cluster, the first run, a rerun (changed=0 on every task),
--check --diff on the converged cluster (changed=0).

Left out: the wait for Prometheus and Alertmanager to be Available (tag
monitoring_operator_wait): the prometheus-operator's pod is Ready on a kwok node but no
container runs, so nobody makes their StatefulSets or sets their status.
test_operator_wait_ends_with_its_timeout shows that wait ending, bounded, with its message.

The inventory is inventory/sample with Linkerd off (gauntlet_linkerd_enabled: false): the
linkerd role's first wait (``crds | Wait for the policy CRDs to be established``) can never end
here, because its CRDs come from the linkerd-crds HelmChart and helm-controller does not run on
this tier; with Linkerd on, the other roles' Server and AuthorizationPolicy objects would need
those CRDs too (docs/testing.md, "What this tier cannot prove").

The tests of this module run in file order and share one control plane (module scope).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.controlplane

UPSTREAM_BUNDLE = True
INVENTORY_VARS = {"gauntlet_linkerd_enabled": False}
TAGS = ["--tags", "monitoring", "--skip-tags", "monitoring_operator_wait"]
RUNS: dict[str, object] = {}


def test_check_mode_on_the_fresh_cluster_completes(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS, "--check", "--diff")
    RUNS["check_fresh"] = run
    assert run.returncode == 0, run.explain()
    assert any(t.endswith("apply | Apply every object") for t in run.changed_tasks), run.explain()
    namespaces = [n["metadata"]["name"] for n in k3s_cluster.plane.resource("v1", "Namespace").get().to_dict()["items"]]
    assert "monitoring" not in namespaces  # check mode created nothing


def test_first_apply_reaches_the_end_with_the_roles_waits(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS)
    RUNS["first"] = run
    assert run.returncode == 0, run.explain()
    assert "verify | Wait for the Deployments and the DaemonSet" in run.stdout
    plane = k3s_cluster.plane
    deployments = plane.resource("apps/v1", "Deployment").get(namespace="monitoring").to_dict()["items"]
    assert deployments
    for deployment in deployments:
        status = deployment.get("status") or {}
        assert status.get("readyReplicas") == deployment["spec"]["replicas"], deployment["metadata"]["name"]


def test_pod_security_admits_every_pod_and_crd_validation_every_object(k3s_cluster):
    """The real admission chain: PodSecurity refuses a pod by failing its controller's create
    (event FailedCreate); CRD validation refuses a custom resource by failing the apply, which
    the first run would have reported."""
    if "first" not in RUNS or RUNS["first"].returncode != 0:
        pytest.skip("the first apply did not succeed")
    plane = k3s_cluster.plane
    events = plane.resource("v1", "Event").get().to_dict()["items"]
    refused = [
        f"{e['involvedObject']['kind']}/{e['metadata']['namespace']}/{e['involvedObject']['name']}: {e['message']}"
        for e in events
        if e.get("reason") == "FailedCreate"
    ]
    assert refused == []
    namespace = plane.resource("v1", "Namespace").get(name="monitoring").to_dict()
    level = namespace["metadata"]["labels"].get("pod-security.kubernetes.io/enforce")
    assert level in ("restricted", "baseline", "privileged")
    pods = plane.resource("v1", "Pod").get(namespace="monitoring").to_dict()["items"]
    owners = {o["name"] for p in pods for o in p["metadata"].get("ownerReferences", [])}
    daemonsets = plane.resource("apps/v1", "DaemonSet").get(namespace="monitoring").to_dict()["items"]
    for daemonset in daemonsets:  # one pod per simulated node, admitted
        assert daemonset["metadata"]["name"] in owners
        assert daemonset["status"]["numberReady"] == len(k3s_cluster.nodes)


def test_second_apply_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS)
    RUNS["second"] = run
    assert run.returncode == 0, run.explain()
    assert run.changed_tasks == [], run.explain()
    assert all(r["changed"] == 0 for r in run.recap.values()), run.recap


def test_check_mode_on_the_converged_cluster_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS, "--check", "--diff")
    RUNS["check_converged"] = run
    assert run.returncode == 0, run.explain()
    assert run.changed_tasks == [], run.explain()
    assert all(r["changed"] == 0 for r in run.recap.values()), run.recap


def test_operator_wait_ends_with_its_timeout(k3s_cluster):
    """The wait this module skips ends after monitoring_wait_timeout, naming what it waited for."""
    run = k3s_cluster.run("platform.yml", "--tags", "monitoring_operator_wait", "-e", "monitoring_wait_timeout=5")
    assert run.returncode != 0
    assert len(run.failed_tasks) == 1, run.explain()
    assert run.failed_tasks[0].endswith("verify | Wait for Prometheus and Alertmanager to be available"), run.explain()
    assert "Prometheus" in run.stdout


def test_report_timings(k3s_cluster, record_property):
    """Timings and counts of the runs above (printed with -rP, recorded as properties)."""
    if not {"first", "second"} <= RUNS.keys():
        pytest.skip("the apply runs did not happen")
    for name, run in RUNS.items():
        print(f"{name}: {run.seconds:.1f} s, changed={run.changed}, objects applied={run.objects_applied}")
        record_property(f"{name}_seconds", round(run.seconds, 1))
    assert RUNS["first"].objects_applied == RUNS["second"].objects_applied > 0
