"""playbooks/k3s.yml --tags coredns_custom,traefik in apply mode against the real control plane.

The cluster objects of the k3s stage (the coredns-custom ConfigMap, Traefik's default
certificate Secret and HelmChartConfig, the Ingress host ValidatingAdmissionPolicy and its
binding) applied by kubernetes.core to kube-apiserver v1.36.x made to look like a fresh k3s
cluster (tests/k3s_cluster.py): first on the fresh cluster in --check --diff, then for real,
then again (changed=0 on every task), then --check --diff on the converged cluster (changed=0).

The run leaves out helm-controller's wait (tag traefik_verify): helm-controller does not run
on this tier, so the values never reach a chart-values Secret.
test_traefik_wait_fails_clearly_without_helm_controller shows that wait ending with its own
message instead of hanging.

The tests of this module run in file order and share one control plane (module scope).
"""

from __future__ import annotations

import k3s_cluster as k3s_like
import pytest

pytestmark = pytest.mark.controlplane

TAGS = ["--tags", "coredns_custom,traefik", "--skip-tags", "traefik_verify"]
RUNS: dict[str, object] = {}


def test_check_mode_on_the_fresh_cluster_completes(k3s_cluster):
    run = k3s_cluster.run("k3s.yml", *TAGS, "--check", "--diff")
    RUNS["check_fresh"] = run
    assert run.returncode == 0, run.explain()
    assert run.recap["server-1"]["failed"] == 0
    # It says what it would create: the apply tasks report changes.
    assert any(t.endswith("apply | Apply every object") for t in run.changed_tasks), run.explain()
    configmaps = k3s_cluster.plane.resource("v1", "ConfigMap")
    names = [c["metadata"]["name"] for c in configmaps.get(namespace="kube-system").to_dict()["items"]]
    assert "coredns-custom" not in names  # check mode created nothing


def test_first_apply_creates_every_object(k3s_cluster):
    run = k3s_cluster.run("k3s.yml", *TAGS)
    RUNS["first"] = run
    assert run.returncode == 0, run.explain()
    assert run.changed > 0
    plane = k3s_cluster.plane
    configmap = plane.resource("v1", "ConfigMap").get(name="coredns-custom", namespace="kube-system").to_dict()
    assert any(key.endswith(".server") for key in configmap["data"])
    secret = plane.resource("v1", "Secret").get(name="gauntlet-default-tls", namespace="kube-system").to_dict()
    assert secret["type"] == "kubernetes.io/tls"
    config = plane.resource("helm.cattle.io/v1", "HelmChartConfig").get(name="traefik", namespace="kube-system")
    assert "websecure" in config.to_dict()["spec"]["valuesContent"]
    policies = plane.resource("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy").get().to_dict()
    assert policies["items"], "the Ingress host policy was not applied"
    assert run.objects_applied >= 5, run.applied


def test_second_apply_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("k3s.yml", *TAGS)
    RUNS["second"] = run
    k3s_like.assert_unchanged(run)


def test_check_mode_on_the_converged_cluster_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("k3s.yml", *TAGS, "--check", "--diff")
    RUNS["check_converged"] = run
    k3s_like.assert_unchanged(run)


def test_traefik_wait_fails_clearly_without_helm_controller(k3s_cluster):
    """helm-controller does not run on this tier: the role's wait for it ends after
    traefik_install_timeout with its own message, not a hang and not a traceback."""
    run = k3s_cluster.run("k3s.yml", "--tags", "traefik", "-e", "traefik_install_timeout=10", timeout=300)
    assert run.returncode != 0, run.explain()
    assert "helm-controller did not copy the HelmChartConfig kube-system/traefik" in run.stdout, run.explain()
    assert "Traceback" not in run.stdout + run.stderr
    assert run.seconds < 240, f"the failing wait took {run.seconds:.0f} s"


def test_report_timings(k3s_cluster, record_property):
    """Timings and counts of the runs above (printed with -rP, recorded as properties)."""
    if not {"first", "second"} <= RUNS.keys():
        pytest.skip("the apply runs did not happen")
    lines = [
        f"k3s objects installed by the fixture: {k3s_cluster.installed}",
        *(
            f"{name}: {run.seconds:.1f} s, changed={run.changed}, objects applied={run.objects_applied}"
            for name, run in RUNS.items()
        ),
    ]
    for name, run in RUNS.items():
        record_property(f"{name}_seconds", round(run.seconds, 1))
        record_property(f"{name}_changed", run.changed)
    print("\n".join(lines))
    assert RUNS["first"].objects_applied == RUNS["second"].objects_applied
