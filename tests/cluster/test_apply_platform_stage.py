"""playbooks/platform.yml in apply mode against the real control plane: every stage that can run.

kube-apiserver v1.36.x made to look like a fresh k3s cluster of a copy of inventory/sample
(tests/k3s_cluster.py), with Linkerd off (tests/cluster/test_apply_linkerd_stage.py runs that
stage with the helm-controller double). One run covers, in platform.yml's order:
- monitoring: kube-prometheus's CRDs and objects and the platform's own, with the role's wait
  for its Deployments and DaemonSet (kwok makes their pods Running and Ready);
- keycloak, gitea, drone, argocd: each role's install part (``<role>_install``: namespaces,
  Secrets, ConfigMaps, Deployments, Services, Ingresses, NetworkPolicies, ServiceMonitors,
  Argo CD's upstream manifest with its CRDs and the wait for them).
The module runs --check --diff on the fresh cluster, the first run, a rerun (changed=0 on
every task), --check --diff on the converged cluster (changed=0).

What cannot run here, each shown by its own test (docs/testing.md):
- cnpg: its install runs (CRDs Established, the operator available, its webhook Service with a
  ready endpoint; it creates the namespaces the services use, task-api among them), but the
  API server refuses its Cluster and Database objects: it must call the operator's webhooks
  (failurePolicy Fail) at a service address this namespace cannot reach;
- monitoring's wait for Prometheus and Alertmanager (tag monitoring_operator_wait): no
  container runs the operator, so nobody makes their StatefulSets or sets their status;
- Gitea's and Drone's Deployments stay unscheduled: their PersistentVolumeClaims name no
  class (the cluster default, local-path on k3s), and no provisioner runs here;
- keycloak_configure, gitea_configure, drone_configure, argocd_configure and every
  ``<role>_verify``: calls to the services' HTTP APIs through the ingress.
Drone's install needs what the gitea role's configure writes on the controller (Drone's OAuth2
client, the clone and gitops promotion accounts' tokens): the module writes stand-ins for those
four credential files (random values) after showing the role's message without them.

The tests of this module run in file order and share one control plane (module scope).
"""

from __future__ import annotations

import secrets
import time

import k3s_cluster as k3s_like
import pytest

pytestmark = pytest.mark.controlplane

UPSTREAM_BUNDLE = True
INVENTORY_VARS = {"gauntlet_linkerd_enabled": False}
SERVICES = ("keycloak", "gitea", "drone", "argocd")
TAGS = [
    "--tags", ",".join(["monitoring", *(f"{role}_install" for role in SERVICES)]),
    "--skip-tags", "monitoring_operator_wait",
]  # fmt: skip
NAMESPACES = ("monitoring", *SERVICES)
# What the gitea role's configure writes for the drone role (roles/drone/vars/main.yml,
# roles/drone/defaults/main.yml): stand-ins here, as Gitea does not run.
GITEA_CONFIGURE_OUTPUT = ("drone/gitea-client-id", "drone/gitea-client-secret", "gitea/clone-token", "gitea/ci-token")
RUNS: dict[str, object] = {}


def namespaces(k3s_cluster) -> set[str]:
    return {n["metadata"]["name"] for n in k3s_cluster.plane.resource("v1", "Namespace").get().to_dict()["items"]}


def last_part(task: str) -> str:
    """The task's own name, without its role (``gauntlet.platform.x : name``)."""
    return task.rsplit(" : ", 1)[-1]


def test_check_mode_on_the_fresh_cluster_completes(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS, "--check", "--diff")
    RUNS["check_fresh"] = run
    assert run.returncode == 0, run.explain()
    assert any(t.endswith("apply | Apply every object") for t in run.changed_tasks), run.explain()
    assert not namespaces(k3s_cluster) & set(NAMESPACES)  # check mode created nothing


def test_cnpg_cluster_is_refused_by_the_operators_webhook(k3s_cluster):
    """monitoring first (cnpg's PodMonitors need its CRDs), then cnpg: the role fails at once at
    its Cluster, naming the webhook; nothing hangs."""
    began = time.monotonic()
    run = k3s_cluster.run("platform.yml", "--tags", "monitoring_install,cnpg_install")
    assert run.returncode != 0
    assert [last_part(t) for t in run.failed_tasks] == [
        "apply | Apply every object",
        "apply | Name the objects the cluster refused",
    ], run.explain()
    assert "Cluster/database/" in run.stdout, run.explain()  # the refused object, named
    assert "failed calling webhook" in run.stdout and "cnpg.io" in run.stdout, run.explain()
    assert "network is unreachable" in run.stdout, run.explain()
    assert "operator | Wait for the webhook Service to have a ready endpoint" in run.stdout
    assert time.monotonic() - began < 1200
    assert {"cnpg-system", "database", "task-api"} <= namespaces(k3s_cluster)


def test_drone_install_without_gitea_configure_fails_clearly(k3s_cluster):
    run = k3s_cluster.run("platform.yml", "--tags", "drone_install")
    assert run.returncode != 0
    assert [last_part(t) for t in run.failed_tasks] == [
        "credentials | Require Drone's OAuth2 client from Gitea before applying"
    ], run.explain()
    assert "Run `--tags gitea_configure` first" in run.stdout, run.explain()
    for name in GITEA_CONFIGURE_OUTPUT:
        path = k3s_cluster.credentials / name
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_text(secrets.token_hex(20))
        path.chmod(0o600)


def test_first_apply_reaches_the_end_with_the_roles_waits(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS)
    RUNS["first"] = run
    assert run.returncode == 0, run.explain()
    assert "verify | Wait for the Deployments and the DaemonSet" in run.stdout
    assert "install | Wait for the CRDs to be established" in run.stdout  # Argo CD's
    plane = k3s_cluster.plane
    deadline = time.monotonic() + 180  # the services' rollout waits are their verify parts
    for namespace in NAMESPACES:
        while True:
            deployments = plane.resource("apps/v1", "Deployment").get(namespace=namespace).to_dict()["items"]
            assert deployments, namespace
            pending = [
                d["metadata"]["name"]
                for d in deployments
                if not claims(d) and (d.get("status") or {}).get("readyReplicas") != d["spec"]["replicas"]
            ]
            if not pending:
                break
            assert time.monotonic() < deadline, f"{namespace}: not Ready: {pending}"
            time.sleep(2)
    # Gitea's and Drone's volumes: no provisioner runs here (k3s's local-path is not started),
    # so their claims stay Pending and their pods unscheduled: the limit, checked as such.
    with_claims = {
        (namespace, d["metadata"]["name"]): claims(d)
        for namespace in NAMESPACES
        for d in plane.resource("apps/v1", "Deployment").get(namespace=namespace).to_dict()["items"]
        if claims(d)
    }
    assert set(with_claims) == {("gitea", "gitea"), ("drone", "drone")}, with_claims
    for (namespace, _deployment), names in with_claims.items():
        for name in names:
            claim = plane.resource("v1", "PersistentVolumeClaim").get(name=name, namespace=namespace).to_dict()
            assert claim["status"]["phase"] == "Pending", claim["status"]


def claims(deployment: dict) -> list[str]:
    """The PersistentVolumeClaims a Deployment's pods mount."""
    volumes = deployment["spec"]["template"]["spec"].get("volumes") or []
    return [v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v]


def test_pod_security_admits_every_pod_and_crd_validation_every_object(k3s_cluster):
    """The real admission chain: PodSecurity refuses a pod by failing its controller's create
    (event FailedCreate); CRD validation refuses a custom resource by failing the apply, which
    the first run would have reported."""
    if "first" not in RUNS or RUNS["first"].returncode != 0:
        pytest.skip("the first apply did not succeed")
    plane = k3s_cluster.plane
    refused = [
        f"{e['involvedObject']['kind']}/{e['metadata']['namespace']}/{e['involvedObject']['name']}: {e['message']}"
        for e in plane.resource("v1", "Event").get().to_dict()["items"]
        if e.get("reason") == "FailedCreate"
    ]
    assert refused == []
    for namespace in NAMESPACES:
        labels = plane.resource("v1", "Namespace").get(name=namespace).to_dict()["metadata"]["labels"]
        assert labels.get("pod-security.kubernetes.io/enforce") in ("restricted", "baseline"), namespace
    pods = plane.resource("v1", "Pod").get(namespace="node-exporter").to_dict()["items"]
    owners = {o["name"] for p in pods for o in p["metadata"].get("ownerReferences", [])}
    for daemonset in plane.resource("apps/v1", "DaemonSet").get(namespace="node-exporter").to_dict()["items"]:
        assert daemonset["metadata"]["name"] in owners  # one pod per simulated node, admitted
        assert daemonset["status"]["numberReady"] == len(k3s_cluster.nodes)


def test_second_apply_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS)
    RUNS["second"] = run
    k3s_like.assert_unchanged(run)


def test_check_mode_on_the_converged_cluster_changes_nothing(k3s_cluster):
    run = k3s_cluster.run("platform.yml", *TAGS, "--check", "--diff")
    RUNS["check_converged"] = run
    k3s_like.assert_unchanged(run)


def test_operator_wait_ends_with_its_timeout(k3s_cluster):
    """The wait the runs above skip ends after monitoring_wait_timeout, naming what it waited for."""
    run = k3s_cluster.run("platform.yml", "--tags", "monitoring_operator_wait", "-e", "monitoring_wait_timeout=5")
    assert run.returncode != 0
    assert [last_part(t) for t in run.failed_tasks] == [
        "verify | Wait for Prometheus and Alertmanager to be available"
    ], run.explain()
    assert "Prometheus" in run.stdout


def test_report_timings(k3s_cluster, record_property):
    """Timings and counts of the runs above (printed with -rP, recorded as properties)."""
    if not {"first", "second"} <= RUNS.keys():
        pytest.skip("the apply runs did not happen")
    k3s_like.report_runs(RUNS, record_property)
