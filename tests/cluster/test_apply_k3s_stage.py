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

kube-vip's manifest (k3s_kube_vip, issue 17 item 1), as the k3s role writes it into k3s's
manifests folder, is created here the way k3s's deploy controller would: the API server takes
its RBAC (an escalation check: the ClusterRole's rules) and the DaemonSet (the
system-node-critical priority class exists), and the real DaemonSet controller and scheduler
place its pods on the servers only (simulated nodes: no kube-vip process runs, no address moves).

The tests of this module run in file order and share one control plane (module scope).
"""

from __future__ import annotations

import json
import sys
import time

import k3s_cluster as k3s_like
import pytest
import yaml
from k3s_cluster import REPO

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


KUBE_VIP_PLAY = """---
- name: Write kube-vip's manifest with the k3s role's task file
  hosts: k3s_servers[0]
  connection: local
  gather_facts: false
  vars_files:
    - {k3s}/defaults/main.yml
    - {k3s}/vars/main.yml
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The role's kube-vip tasks
      ansible.builtin.include_tasks: {k3s}/tasks/kube_vip.yml
"""


def test_kube_vip_objects_are_accepted_and_its_pods_go_to_the_servers_only(k3s_cluster, tmp_path):
    k3s = REPO / "roles/k3s"
    (tmp_path / "templates").symlink_to(k3s / "templates")
    (tmp_path / "play.yml").write_text(KUBE_VIP_PLAY.format(k3s=k3s))
    variables = {
        "k3s_kube_vip": True,
        "gauntlet_control_plane_address": "192.168.56.100",
        "k3s_data_dir": str(tmp_path / "data"),
        "ansible_python_interpreter": sys.executable,
    }
    argv = [
        "ansible-playbook",
        "-i",
        str(k3s_cluster.inventory),
        str(tmp_path / "play.yml"),
        "-e",
        json.dumps(variables),
    ]
    result = k3s_cluster.plane.run(*argv, cwd=REPO, env=k3s_like.ansible_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    manifest = tmp_path / "data/server/manifests/gauntlet-kube-vip.yaml"
    plane = k3s_cluster.plane
    for obj in (doc for doc in yaml.safe_load_all(manifest.read_text()) if doc):
        namespace = obj["metadata"].get("namespace")
        plane.resource(obj["apiVersion"], obj["kind"]).create(
            body=obj, **({"namespace": namespace} if namespace else {})
        )
    servers = sorted(n["name"] for n in k3s_cluster.nodes if "node-role.kubernetes.io/control-plane" in n["labels"])
    assert servers and len(servers) < len(k3s_cluster.nodes)  # the sample has agents too
    pods = plane.resource("v1", "Pod")
    deadline = time.monotonic() + 90
    while True:
        items = pods.get(namespace="kube-system", label_selector="app.kubernetes.io/name=kube-vip-ds").to_dict()[
            "items"
        ]
        placed = sorted(p["spec"].get("nodeName") or "" for p in items)
        if placed == servers or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert placed == servers, items
    assert all(p["spec"]["serviceAccountName"] == "kube-vip" and p["spec"]["priority"] > 0 for p in items)


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
