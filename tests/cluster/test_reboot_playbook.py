"""playbooks/reboot.yml against the real control plane: the rolling reboot's API side.

The module's control plane is made to look like a fresh k3s cluster of inventory/sample
(tests/k3s_cluster.py): kwok Nodes server-1, agent-1 and agent-2. What is real here is every
call the playbook makes to the API: cordon (spec.unschedulable), evictions through the
Eviction API, which kube-apiserver refuses with 429 while a PodDisruptionBudget does not allow
the disruption (the disruption controller of kube-controller-manager keeps the budgets' status),
pod deletion (kwok's pod-delete stage removes an evicted pod, as a kubelet would after the
grace period), the Deployment and DaemonSet controllers and the scheduler placing the
replacements, the wait for the Node's Ready condition and the uncordon.

What is not real: the hosts. No SSH host exists for the inventory's addresses and kwok nodes
cannot reboot, so every run sets gauntlet_reboot_skip_host_reboot=true, the documented switch
that leaves out the one host task (ansible.builtin.reboot) and the boot-ID comparison that
goes with it (docs/k3s.md, "Rolling reboot"). A node that does not come back is made by the
test: it takes the Node away from kwok (the kwok.x-k8s.io/node annotation) and writes
Ready=False into its status, as a kubelet that stopped posting would leave it.

Before this module, playbooks/reboot.yml did not exist: every test here failed on that.
The tests run in file order and share one control plane (module scope).
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import k3s_cluster as k3s_like
import pytest
import yaml
from kubernetes import watch
from kubernetes.client import CoreV1Api

pytestmark = pytest.mark.controlplane

NODES = ["server-1", "agent-1", "agent-2"]  # servers first, then agents, in inventory order
NS = "reboot-test"
SKIP = ["-e", "gauntlet_reboot_skip_host_reboot=true"]
CONFIRM = ["-e", "gauntlet_reboot_confirm=true"]
FAST = ["-e", "gauntlet_reboot_drain_timeout=60", "-e", "gauntlet_reboot_ready_timeout=20"]


def _pods(plane, **kw) -> list[dict]:
    return plane.resource("v1", "Pod").get(namespace=NS, **kw).to_dict()["items"]


def _unschedulable(plane) -> dict[str, bool]:
    nodes = plane.resource("v1", "Node").get().to_dict()["items"]
    return {n["metadata"]["name"]: bool((n.get("spec") or {}).get("unschedulable")) for n in nodes}


def _wait(what: str, check, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} within {timeout:.0f} s"
        time.sleep(1)
    return result


def _running(plane, selector: str, count: int) -> list[dict]:
    def ready():
        pods = [
            p
            for p in _pods(plane, label_selector=selector)
            if (p.get("status") or {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]
        return pods if len(pods) == count else None

    return _wait(f"{count} Running pods {selector}", ready)


class CordonWatch:
    """Every change of a Node's spec.unschedulable, in the API server's order, from a watch on
    a thread of its own inside the control plane's network namespace."""

    def __init__(self, plane):
        self.plane = plane
        self.events: list[tuple[str, bool]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        from controlplane import _enter_netns

        _enter_netns(self.plane.netns._fd)
        core = CoreV1Api(self.plane.api_client())
        state = {n.metadata.name: bool(n.spec.unschedulable) for n in core.list_node().items}
        version = core.list_node().metadata.resource_version
        self._ready.set()
        while not self._stop.is_set():
            stream = watch.Watch()
            for event in stream.stream(core.list_node, resource_version=version, timeout_seconds=2):
                node = event["object"]
                version = node.metadata.resource_version
                now = bool(node.spec.unschedulable)
                if state.get(node.metadata.name) != now:
                    state[node.metadata.name] = now
                    self.events.append((node.metadata.name, now))

    def __enter__(self):
        self._thread.start()
        self._ready.wait(60)
        return self

    def __exit__(self, *exc):
        time.sleep(3)  # the last events of the run
        self._stop.set()
        self._thread.join(30)


def test_refuses_without_confirmation(k3s_cluster):
    run = k3s_cluster.run("reboot.yml", *SKIP)
    assert run.returncode != 0, run.explain()
    assert "gauntlet_reboot_confirm=true" in run.stdout, run.explain()
    assert "Nothing was changed" in run.stdout, run.explain()
    assert not any(_unschedulable(k3s_cluster.plane).values())


def test_workloads(k3s_cluster):
    """A Deployment of 3 with a budget of one pod down at a time (two of its pods on one node
    are evicted one after the other: the second eviction is refused until the first one's
    replacement is Ready), a pod with an emptyDir volume (evicted: its data is scratch), and
    a DaemonSet (its pods stay: they would come straight back)."""
    plane = k3s_cluster.plane
    plane.resource("v1", "Namespace").create(body={"metadata": {"name": NS}})

    def deployment(name, replicas, volumes=None, node=None):
        labels = {"app": name}
        spec = {"containers": [{"name": "c", "image": "registry.local:5000/test/pause:1"}]}
        if volumes:
            spec["volumes"] = volumes
        if node:
            spec["nodeSelector"] = {"kubernetes.io/hostname": node}
        return {
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec},
            },
        }

    deployments = plane.resource("apps/v1", "Deployment")
    deployments.create(namespace=NS, body=deployment("web", 3))
    deployments.create(namespace=NS, body=deployment("scratch", 1, volumes=[{"name": "tmp", "emptyDir": {}}]))
    daemonset = deployment("agent", 0)
    del daemonset["spec"]["replicas"]
    plane.resource("apps/v1", "DaemonSet").create(namespace=NS, body=daemonset)
    plane.resource("policy/v1", "PodDisruptionBudget").create(
        namespace=NS,
        body={"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
    )
    _running(plane, "app=web", 3)
    _running(plane, "app=scratch", 1)
    _running(plane, "app=agent", len(NODES))

    def budget_synced():
        pdb = plane.resource("policy/v1", "PodDisruptionBudget").get(name="web", namespace=NS).to_dict()
        return (pdb.get("status") or {}).get("disruptionsAllowed") == 1

    _wait("the disruption controller allowing one disruption of web", budget_synced)


def test_check_mode_reports_what_would_be_drained_and_changes_nothing(k3s_cluster):
    plane = k3s_cluster.plane
    before = {p["metadata"]["uid"] for p in _pods(plane)}
    with CordonWatch(plane) as cordons:
        run = k3s_cluster.run("reboot.yml", "--check", *SKIP)
    assert run.returncode == 0, run.explain()
    assert cordons.events == [], cordons.events
    assert {p["metadata"]["uid"] for p in _pods(plane)} == before
    for pod in _pods(plane):
        name = f"{NS}/{pod['metadata']['name']}"
        assert name in run.stdout, (name, run.explain())
    # the skipped reboot is said, not hidden
    said = "would be cordoned, drained, not rebooted (gauntlet_reboot_skip_host_reboot) and uncordoned"
    assert run.stdout.count(said) == len(NODES), run.explain()
    assert "DaemonSet pods left in place" in run.stdout, run.explain()


def test_every_node_is_cordoned_drained_and_uncordoned_in_order(k3s_cluster):
    plane = k3s_cluster.plane
    evicted = {
        p["metadata"]["uid"]: p["metadata"]["name"] for p in _pods(plane) if p["metadata"]["labels"]["app"] != "agent"
    }
    daemon = {p["metadata"]["uid"] for p in _pods(plane, label_selector="app=agent")}
    with CordonWatch(plane) as cordons:
        run = k3s_cluster.run("reboot.yml", *CONFIRM, *SKIP, *FAST)
    assert run.returncode == 0, run.explain()
    assert cordons.events == [(node, state) for node in NODES for state in (True, False)], cordons.events
    assert not any(_unschedulable(plane).values())
    # Every pod that is not a DaemonSet's was evicted (kwok deleted it) and replaced.
    now = _pods(plane)
    left = {p["metadata"]["uid"] for p in now} & set(evicted)
    assert not left, [evicted[u] for u in left]
    assert {p["metadata"]["uid"] for p in _pods(plane, label_selector="app=agent")} == daemon
    _running(plane, "app=web", 3)
    _running(plane, "app=scratch", 1)


def test_a_budget_that_never_allows_the_eviction_stops_the_run_naming_the_pod(k3s_cluster):
    """A single replica pinned to agent-1 with minAvailable 1: the Eviction API refuses it for
    good. server-1 goes through; agent-1 is left cordoned, agent-2 is not touched."""
    plane = k3s_cluster.plane
    labels = {"app": "guarded"}
    plane.resource("apps/v1", "Deployment").create(
        namespace=NS,
        body={
            "metadata": {"name": "guarded", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "nodeSelector": {"kubernetes.io/hostname": "agent-1"},
                        "containers": [{"name": "c", "image": "registry.local:5000/test/pause:1"}],
                    },
                },
            },
        },
    )
    plane.resource("policy/v1", "PodDisruptionBudget").create(
        namespace=NS,
        body={"metadata": {"name": "guarded"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": labels}}},
    )
    (pod,) = _running(plane, "app=guarded", 1)

    def budget_synced():
        pdb = plane.resource("policy/v1", "PodDisruptionBudget").get(name="guarded", namespace=NS).to_dict()
        status = pdb.get("status") or {}
        return status.get("currentHealthy") == 1 and status.get("disruptionsAllowed") == 0

    _wait("the disruption controller counting the guarded pod", budget_synced)
    with CordonWatch(plane) as cordons:
        run = k3s_cluster.run("reboot.yml", *CONFIRM, *SKIP, "-e", "gauntlet_reboot_drain_timeout=15", timeout=600)
    assert run.returncode != 0, run.explain()
    assert cordons.events == [("server-1", True), ("server-1", False), ("agent-1", True)], cordons.events
    assert _unschedulable(plane) == {"server-1": False, "agent-1": True, "agent-2": False}
    out = run.stdout
    assert f"{NS}/{pod['metadata']['name']}" in out, run.explain()
    assert "disruption budget" in out and f"{NS}/guarded" in out, run.explain()
    print(next((line for line in out.splitlines() if "Rolling reboot stopped" in line), out[-3000:]))  # -rP
    assert "Rolling reboot stopped at agent-1" in out, run.explain()
    assert "Done: server-1. Not yet: agent-2." in out, run.explain()
    assert "--limit agent-1,agent-2 " in out and "kubectl uncordon agent-1" in out, run.explain()
    assert "agent-1 is left cordoned" in out, run.explain()
    assert "Traceback" not in out + run.stderr
    # the guarded pod is still there: nothing forced it out
    assert [p["metadata"]["uid"] for p in _running(plane, "app=guarded", 1)] == [pod["metadata"]["uid"]]
    # clean up for the next test
    plane.resource("policy/v1", "PodDisruptionBudget").delete(name="guarded", namespace=NS)
    plane.resource("apps/v1", "Deployment").delete(name="guarded", namespace=NS)
    plane.resource("v1", "Node").patch(name="agent-1", body={"spec": {"unschedulable": False}})


def test_a_node_that_never_becomes_ready_again_stops_the_run_with_its_conditions(k3s_cluster):
    """server-1 taken from kwok and written NotReady: the bounded wait ends naming the node and
    its conditions; the agents' play never starts (nothing of theirs is cordoned)."""
    plane = k3s_cluster.plane
    nodes = plane.resource("v1", "Node")
    nodes.patch(name="server-1", body={"metadata": {"annotations": {"kwok.x-k8s.io/node": None}}})
    time.sleep(3)  # kwok lets go of the node
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    ready = {
        "type": "Ready",
        "status": "False",
        "reason": "KubeletNotReady",
        "message": "set by the test: the kubelet did not come back",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
    }
    core = CoreV1Api(plane.api_client())
    plane.netns.call(core.patch_node_status, "server-1", {"status": {"conditions": [ready]}})
    try:
        with CordonWatch(plane) as cordons:
            run = k3s_cluster.run("reboot.yml", *CONFIRM, *SKIP, *FAST, timeout=600)
        assert run.returncode != 0, run.explain()
        assert cordons.events == [("server-1", True)], cordons.events
        assert _unschedulable(plane) == {"server-1": True, "agent-1": False, "agent-2": False}
        out = run.stdout
        print(next((line for line in out.splitlines() if "Rolling reboot stopped" in line), out[-3000:]))  # -rP
        assert "Rolling reboot stopped at server-1" in out, run.explain()
        assert "not Ready within 20 s" in out, run.explain()
        assert "Ready=False (KubeletNotReady: set by the test: the kubelet did not come back)" in out, run.explain()
        assert "Done: none. Not yet: agent-1, agent-2." in out, run.explain()
        assert "server-1 is left cordoned" in out and "--limit server-1,agent-1,agent-2 " in out, run.explain()
        assert run.seconds < 300, f"the failing wait took {run.seconds:.0f} s"
    finally:
        nodes.patch(
            name="server-1",
            body={"metadata": {"annotations": {"kwok.x-k8s.io/node": "fake"}}, "spec": {"unschedulable": False}},
        )


# --- playbooks/remove-node.yml (same control plane, after the reboot tests) ------------------
# The drain is tasks/drain_node.yml, the one the rolling reboot runs (tested above). What is real
# here besides it: the Node deletion by the API server and the wait until the Node is gone. What is
# not: the host steps (stop k3s, clean the host: tests/playbooks/test_node_lifecycle.py runs them
# against the k3s test double) and k3s's etcd member removal (its finalizer runs in k3s only).
REMOVE_SKIP = ["-e", "gauntlet_remove_node_skip_host=true", "-e", "gauntlet_remove_node_timeout=60"]


def _inventory_with_servers(k3s_cluster, tmp_path, servers: dict[str, str]) -> Path:
    """A copy of the module's inventory with more servers (name -> address) after server-1."""
    inventory = tmp_path / "inventory"
    shutil.copytree(k3s_cluster.inventory, inventory)
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    servers_group = hosts["all"]["children"]["k3s_cluster"]["children"]["k3s_servers"]["hosts"]
    servers_group.update({name: {"ansible_host": address} for name, address in servers.items()})
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    return inventory


def test_remove_node_refuses_a_server_whose_removal_breaks_etcd_quorum(k3s_cluster, tmp_path):
    """Three etcd members, one of them NotReady: removing a second one leaves one Ready of three,
    fewer than a majority (2). Refused before anything is cordoned."""
    plane = k3s_cluster.plane
    server_labels = next(n["labels"] for n in k3s_cluster.nodes if n["name"] == "server-1")
    extra = {"server-2": "192.168.56.12", "server-3": "192.168.56.13"}
    for name, address in extra.items():
        plane.add_node(name, labels={**server_labels, "kubernetes.io/hostname": name}, address=address)
    nodes = plane.resource("v1", "Node")
    try:
        nodes.patch(name="server-3", body={"metadata": {"annotations": {"kwok.x-k8s.io/node": None}}})
        time.sleep(3)  # kwok lets go of the node
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        ready = {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "set by the test",
                 "lastHeartbeatTime": now, "lastTransitionTime": now}  # fmt: skip
        plane.netns.call(
            CoreV1Api(plane.api_client()).patch_node_status, "server-3", {"status": {"conditions": [ready]}}
        )
        inventory = _inventory_with_servers(k3s_cluster, tmp_path, extra)
        with CordonWatch(plane) as cordons:
            run = k3s_like.run_playbook(
                plane, inventory, "remove-node.yml", "-e", "gauntlet_remove_node=server-2",
                "-e", "gauntlet_remove_node_confirm=true", *REMOVE_SKIP,
            )  # fmt: skip
        assert run.returncode != 0, run.explain()
        assert "would break etcd's quorum" in run.stdout and "not Ready: server-3" in run.stdout, run.explain()
        assert "majority of them (2)" in run.stdout, run.explain()
        assert cordons.events == [], cordons.events
        assert {"server-2", "server-3"} <= {n["metadata"]["name"] for n in nodes.get().to_dict()["items"]}
    finally:
        for name in extra:
            nodes.delete(name=name)


def test_remove_node_check_mode_changes_nothing(k3s_cluster):
    plane = k3s_cluster.plane
    before = {p["metadata"]["uid"] for p in _pods(plane)}
    with CordonWatch(plane) as cordons:
        run = k3s_cluster.run("remove-node.yml", "--check", "-e", "gauntlet_remove_node=agent-2", *REMOVE_SKIP)
    assert run.returncode == 0, run.explain()
    assert cordons.events == [], cordons.events
    assert "agent-2 would be cordoned, drained, left running (gauntlet_remove_node_skip_host), deleted" in run.stdout
    assert "an agent: etcd is not affected" in run.stdout, run.explain()
    assert {p["metadata"]["uid"] for p in _pods(plane)} == before
    assert "agent-2" in _unschedulable(plane)


def test_remove_node_drains_and_deletes_the_node(k3s_cluster):
    plane = k3s_cluster.plane
    on_node = {
        p["metadata"]["uid"]: p["metadata"]["name"]
        for p in _pods(plane)
        if (p.get("spec") or {}).get("nodeName") == "agent-2" and p["metadata"]["labels"]["app"] != "agent"
    }
    with CordonWatch(plane) as cordons:
        run = k3s_cluster.run(
            "remove-node.yml",
            "-e",
            "gauntlet_remove_node=agent-2",
            "-e",
            "gauntlet_remove_node_confirm=true",
            *REMOVE_SKIP,
        )
    assert run.returncode == 0, run.explain()
    assert cordons.events[:1] == [("agent-2", True)], cordons.events
    assert "agent-2" not in _unschedulable(plane), "the Node is deleted"
    assert not {p["metadata"]["uid"] for p in _pods(plane)} & set(on_node), on_node
    _running(plane, "app=web", 3)  # the evicted replicas run elsewhere
    assert "Take agent-2 out of the inventory" in run.stdout, run.explain()
