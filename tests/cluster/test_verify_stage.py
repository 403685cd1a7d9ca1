"""playbooks/verify.yml against the real control plane with the monitoring stage applied.

What can be true here is what the Kubernetes API alone can show: the pods check (kwok makes
every pod of the simulated nodes Running and Ready) is OK. Everything else needs a running
container or traffic to a service (HTTPS through the ingress, the registry, Prometheus,
Grafana, Keycloak, Drone, exec into a pod, SSH to the nodes), and this tier has neither: the
control plane's network namespace has only loopback up, so every such request fails at once
with "network unreachable" (tests/controlplane.py). A plain run says so with FAIL rows; with
verify_api_only those checks are SKIP rows that name what they need, and the run passes.

Argo CD's check is left out (--skip-tags verify_argocd): it also needs only the API, but this
module applies only the monitoring stage, and Synced/Healthy is written by Argo CD's
application controller, a real container. Linkerd is off (its CRDs come from a HelmChart that
no helm-controller installs here: test_apply_platform_stage.py), so its row is the existing
SKIP. The tests share one control plane (module scope) and run in file order.
"""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.controlplane

UPSTREAM_BUNDLE = True
INVENTORY_VARS = {"gauntlet_linkerd_enabled": False}
# The images row has its own module (test_verify_images.py): kwok leaves imageID empty, so here
# it would only say "pending". The certificates rows read files on the hosts and Traefik's Secret,
# which the monitoring stage alone does not create (unit and module tests cover them). The Task
# API image check (verify_deployed) needs the Task API's Deployment: its own test below.
SKIP_ARGOCD = ["--skip-tags", "verify_argocd,verify_images,verify_certificates,verify_deployed"]
RUNS: dict[str, object] = {}
_ROW = re.compile(r'^\s*"?\| (\S+)\s+\| (.+?)\s+\| (OK|FAIL|SKIP)\s+\| ?(.*?)"?,?$')


def table(stdout: str) -> list[tuple[str, str, str, str]]:
    """(check, target, result, first detail line) of every row of verify's table."""
    rows = []
    for line in stdout.splitlines():
        if m := _ROW.match(line):
            rows.append((m[1], m[2], m[3], m[4]))
    return rows


def test_apply_the_monitoring_stage(k3s_cluster):
    # without its verify tasks: Prometheus and Alertmanager never become Available here (their
    # operator is simulated); verify's own pods check is what this module is about
    run = k3s_cluster.run("platform.yml", "--tags", "monitoring", "--skip-tags", "monitoring_verify")
    RUNS["apply"] = run
    assert run.returncode == 0, run.explain()


def test_a_plain_verify_run_fails_exactly_the_checks_that_need_traffic(k3s_cluster):
    """Without verify_api_only every check that needs a service or a node is a FAIL here, and
    says why: the request could not go anywhere (only loopback is up)."""
    run = k3s_cluster.run("verify.yml", *SKIP_ARGOCD, "-e", "verify_settle_retries=3", "-e", "verify_settle_delay=5")
    RUNS["plain"] = run
    rows = table(run.stdout)
    assert run.returncode != 0, run.explain()
    assert ("pods", "all namespaces", "OK") in [r[:3] for r in rows], rows
    failed = {r[0] for r in rows if r[2] == "FAIL"}
    assert failed >= {"dns", "tls", "registry", "prometheus", "grafana"}, rows
    assert "pods" not in failed


def test_verify_with_the_api_only_passes_and_names_what_it_did_not_check(k3s_cluster):
    run = k3s_cluster.run(
        "verify.yml",
        *SKIP_ARGOCD,
        "-e",
        "verify_api_only=true",
        "-e",
        "verify_settle_retries=3",
        "-e",
        "verify_settle_delay=5",
    )
    RUNS["api_only"] = run
    assert run.returncode == 0, run.explain()
    rows = table(run.stdout)
    assert [r[:3] for r in rows if r[2] == "OK"] == [("pods", "all namespaces", "OK")], rows
    assert not [r for r in rows if r[2] == "FAIL"], rows
    skipped = {(r[0], r[3]) for r in rows if r[2] == "SKIP"}
    assert skipped == {
        ("dns", "not checked: needs SSH to every node and exec into a running pod (verify_api_only)"),
        ("tls", "not checked: needs HTTPS to every local domain (verify_api_only)"),
        ("registry", "not checked: needs HTTPS to the registry (verify_api_only)"),
        ("drone", "not checked: needs HTTPS to Drone (verify_api_only)"),
        ("keycloak", "not checked: needs HTTPS to Keycloak and the Task API (verify_api_only)"),
        ("linkerd", "Linkerd is disabled (gauntlet_linkerd_enabled)"),
        ("prometheus", "not checked: needs HTTPS to Prometheus (verify_api_only)"),
        ("grafana", "not checked: needs HTTPS to Grafana (verify_api_only)"),
    }, rows
    assert run.changed == 0, run.recap


IMAGE = "registry.local:5000/gauntlet/task-api"
DIGEST = "sha256:" + "d" * 64


def _task_api_pods(plane):
    pods = plane.resource("v1", "Pod")
    return list(pods.get(namespace="task-api", label_selector="app.kubernetes.io/name=task-api").items)


def test_the_deployed_row_compares_the_running_digest_with_gitops(k3s_cluster):
    """kwok (v0.8.0, kustomize/stage/pod/general/pod-ready.yaml) fills containerStatuses without
    imageID, which a kubelet sets from the pulled image: the test writes it into the pod status
    through the API, as the kubelet would, then asks verify which image runs."""
    import time

    plane = k3s_cluster.plane
    plane.resource("v1", "Namespace").create(body={"metadata": {"name": "task-api"}})
    labels = {"app.kubernetes.io/name": "task-api"}
    plane.resource("apps/v1", "Deployment").create(
        namespace="task-api",
        body={
            "metadata": {"name": "task-api", "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "task-api", "image": f"{IMAGE}:abc@{DIGEST}"}]},
                },
            },
        },
    )
    deadline = time.monotonic() + 120
    while not [p for p in _task_api_pods(plane) if p.status.phase == "Running"]:
        assert time.monotonic() < deadline, "kwok did not run the Task API pod"
        time.sleep(2)
    (pod,) = _task_api_pods(plane)
    assert not any(getattr(c, "imageID", None) for c in pod.status.containerStatuses or []), "kwok sets imageID now"

    def set_image_id(digest):
        from kubernetes.client import CoreV1Api

        statuses = [c.to_dict() for c in pod.status.containerStatuses]
        for c in statuses:
            c["imageID"] = f"{IMAGE}@{digest}"
        core = CoreV1Api(plane.api_client())
        plane.netns.call(core.patch_namespaced_pod_status, pod.metadata.name, "task-api",
                         {"status": {"containerStatuses": statuses}})  # fmt: skip

    def deployed_row():
        run = k3s_cluster.run("verify.yml", "--tags", "verify_deployed", "-e", "verify_api_only=true")
        return run, [r for r in table(run.stdout) if r[0] == "deployed"]

    set_image_id(DIGEST)
    run, rows = deployed_row()
    assert run.returncode == 0, run.explain()
    assert len(rows) == 1 and rows[0][:3] == ("deployed", "task-api/task-api", "OK"), rows
    assert DIGEST in rows[0][3], rows
    other = "sha256:" + "e" * 64
    set_image_id(other)
    run, rows = deployed_row()
    assert run.returncode != 0 and rows and rows[0][2] == "FAIL", rows
    assert other in run.stdout and "gitops names" in run.stdout


def test_report_timings(record_property):
    for name, run in RUNS.items():
        print(f"{name}: {run.seconds:.1f} s, rc={run.returncode}")
        record_property(f"{name}_seconds", round(run.seconds, 1))
