"""playbooks/remove.yml against the real control plane: the platform stage's objects are
deleted through the API and nothing the platform created is left behind.

The module's control plane is made to look like a fresh k3s cluster (tests/k3s_cluster.py);
every object it holds is listed through discovery (every served resource type, namespaced
and cluster-scoped) before the monitoring stage is applied. After the removal, the objects
are listed again: k3s's own objects stay, and nothing else may remain (Events aside: they are
records, not objects anybody applied). Namespace deletion is real: the controller manager's
namespace controller empties each Namespace and removes its finalizer.

Inventory as test_apply_platform_stage.py (Linkerd off, a bundle made of the upstream copies).
The tests run in file order and share one control plane (module scope).
"""

from __future__ import annotations

import time

import k3s_cluster as k3s_like
import pytest

pytestmark = pytest.mark.controlplane

UPSTREAM_BUNDLE = True
INVENTORY_VARS = {"gauntlet_linkerd_enabled": False}
# The Prometheus and Alertmanager objects never become Available here (their operator is
# simulated): the stage runs without its verify tasks (monitoring_verify).
TAGS = ["--tags", "monitoring", "--skip-tags", "monitoring_verify"]
CONFIRM = ["-e", "gauntlet_remove_confirm=true"]
HOLD = "gauntlet.test/hold"
STATE: dict[str, object] = {}


def _platform_objects(k3s_cluster) -> set:
    return k3s_like.made_since(STATE["before"], k3s_like.snapshot(k3s_cluster.plane))


def test_apply_the_monitoring_stage(k3s_cluster):
    STATE["before"] = k3s_like.snapshot(k3s_cluster.plane)
    run = k3s_cluster.run("platform.yml", *TAGS)
    STATE["apply"] = run
    assert run.returncode == 0, run.explain()
    created = _platform_objects(k3s_cluster)
    STATE["created"] = created
    assert ("", "namespaces", "", "monitoring") in created
    assert any(g == "apiextensions.k8s.io" for g, *_rest in created)  # kube-prometheus's CRDs
    assert any(g == "monitoring.coreos.com" for g, *_rest in created)  # and custom resources of them


def test_removal_refuses_without_confirmation(k3s_cluster):
    run = k3s_cluster.run("remove.yml", *TAGS)
    assert run.returncode != 0, run.explain()
    assert "gauntlet_remove_confirm=true" in run.stdout, run.explain()
    assert STATE["created"] <= k3s_like.snapshot(k3s_cluster.plane)


def test_check_mode_of_the_removal_deletes_nothing(k3s_cluster):
    run = k3s_cluster.run("remove.yml", *TAGS, "--check", "--diff")
    STATE["check"] = run
    assert run.returncode == 0, run.explain()
    assert any(t.endswith("remove | Delete every object") for t in run.changed_tasks), run.explain()
    missing = STATE["created"] - k3s_like.snapshot(k3s_cluster.plane)
    assert missing == set()


def test_a_namespace_that_cannot_empty_fails_the_removal_within_its_bound(k3s_cluster):
    """An object held by a finalizer nobody removes keeps its Namespace Terminating: the removal
    waits k8s_objects_remove_timeout seconds, then fails naming the Namespace and what the
    namespace controller says about it (no hang)."""
    configmaps = k3s_cluster.plane.resource("v1", "ConfigMap")
    configmaps.create(
        namespace="monitoring",
        body={"metadata": {"name": "held-by-a-finalizer", "finalizers": [HOLD]}, "data": {}},
    )
    began = time.monotonic()
    run = k3s_cluster.run("remove.yml", *TAGS, *CONFIRM, "-e", "k8s_objects_remove_timeout=20")
    STATE["held"] = run
    assert run.returncode != 0, run.explain()
    assert time.monotonic() - began < 600
    assert "Namespace monitoring is still there after 20 s" in run.stdout, run.explain()
    assert HOLD in run.stdout, run.explain()  # the namespace controller's condition names it
    configmaps.patch(
        namespace="monitoring",
        name="held-by-a-finalizer",
        body={"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )


def test_removal_leaves_no_object_behind(k3s_cluster):
    run = k3s_cluster.run("remove.yml", *TAGS, *CONFIRM)
    STATE["remove"] = run
    assert run.returncode == 0, run.explain()
    # The garbage collector removes dependents in the background: a short, bounded look.
    deadline = time.monotonic() + 60
    while (left := _platform_objects(k3s_cluster)) and time.monotonic() < deadline:
        time.sleep(2)
    assert left == set()
    kept = STATE["before"] - k3s_like.snapshot(k3s_cluster.plane)
    # k3s's own objects stay (the Leases the controllers renew keep their names).
    assert not [k for k in kept if k[1] in ("customresourcedefinitions", "helmcharts", "nodes", "namespaces")]


def test_rerunning_the_removal_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("remove.yml", *TAGS, *CONFIRM)
    STATE["rerun"] = run
    assert run.returncode == 0, run.explain()
    assert run.changed_tasks == [], run.explain()
    assert all(r["changed"] == 0 for r in run.recap.values()), run.recap


def test_report_timings(record_property):
    for name, run in STATE.items():
        if isinstance(run, k3s_like.Run):
            print(f"{name}: {run.seconds:.1f} s, rc={run.returncode}, changed={run.changed}")
            record_property(f"{name}_seconds", round(run.seconds, 1))
    if "created" in STATE:
        print(f"objects the monitoring stage created: {len(STATE['created'])}")
