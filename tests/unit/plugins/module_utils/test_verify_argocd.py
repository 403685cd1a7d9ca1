"""What a good Argo CD Application is, decided once (module_utils/verify/argocd.py) for the argocd
role's report and the verify row.

Inputs are shaped like what kubernetes.core.k8s_info registers for kind Application: the status
fields are those of Argo CD's Application CRD (argo-cd v3.5.1 install.yaml: status.sync.status,
status.health.{status,message}, status.conditions[].{type,message}, status.operationState.{phase,
message}, status.resources[].{group,kind,namespace,name,status,health})."""

import copy

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.argocd import (
    application_problems,
    application_row,
    applications_report,
    find_application,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import MAX_DETAIL_LINES, VerifyInputError

REVISION = "3f1c2a9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


def application(name="task-api", sync="Synced", health="Healthy", **status):
    """An Application as k8s_info returns it, Synced and Healthy unless told otherwise."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/managed-by": "gauntlet"},
            "generation": 14,
            "resourceVersion": "48213",
            "uid": "0b5d1c36-3a3e-4a8e-9d6c-2f4f3b1e7a10",
            "creationTimestamp": "2026-12-05T10:02:11Z",
        },
        "spec": {
            "project": "gauntlet",
            "source": {"repoURL": "http://gitea-http.gitea.svc:3000/gauntlet/gitops.git", "path": name, "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
        "status": {
            "sync": {
                "status": sync,
                "revision": REVISION,
                "comparedTo": {"source": {"repoURL": "http://gitea-http.gitea.svc:3000/gauntlet/gitops.git", "path": name}},
            },
            "health": {"status": health, "lastTransitionTime": "2026-12-05T10:04:40Z"},
            "reconciledAt": "2026-12-05T10:05:00Z",
            "sourceType": "Kustomize",
            "controllerNamespace": "argocd",
            "summary": {"images": ["registry.local:5000/gauntlet/task-api:3f1c2a9d8e7b"]},
            **status,
        },
    }  # fmt: skip


def k8s_info(*apps):
    """What k8s_info registers (failed_when: false)."""
    return {"changed": False, "failed": False, "api_found": True, "resources": list(apps)}


SERVICE = {"version": "v1", "kind": "Service", "namespace": "task-api", "name": "task-api", "status": "Synced",
           "health": {"status": "Healthy"}}  # fmt: skip
DEGRADED_DEPLOYMENT = {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "task-api", "name": "task-api",
                       "status": "Synced", "health": {"status": "Degraded", "message": "Deployment has timed out progressing."}}  # fmt: skip
OUT_OF_SYNC_ROLE = {"group": "rbac.authorization.k8s.io", "version": "v1", "kind": "ClusterRole", "name": "task-api-read",
                    "status": "OutOfSync"}  # fmt: skip
NAMESPACE = {"version": "v1", "kind": "Namespace", "name": "task-api", "status": "Synced"}

BROKEN = application(
    sync="OutOfSync",
    health="Degraded",
    conditions=[{"type": "ComparisonError", "message": "rpc error: repository not accessible",
                 "lastTransitionTime": "2026-12-05T10:03:00Z"}],
    operationState={"phase": "Failed", "message": "one or more objects failed to apply",
                    "startedAt": "2026-12-05T10:02:30Z", "finishedAt": "2026-12-05T10:02:33Z",
                    "operation": {"sync": {"revision": REVISION}}},
    resources=[SERVICE, DEGRADED_DEPLOYMENT, OUT_OF_SYNC_ROLE, NAMESPACE],
)  # fmt: skip
BROKEN_LINES = [
    "sync OutOfSync, health Degraded",
    "condition ComparisonError: rpc error: repository not accessible",
    "last sync Failed: one or more objects failed to apply",
    "Deployment task-api/task-api: Synced, Degraded: Deployment has timed out progressing.",
    "ClusterRole task-api-read: OutOfSync",
]


# -- the judgement ---------------------------------------------------------------------


def test_synced_and_healthy_has_no_problem():
    assert application_problems(application(resources=[SERVICE, NAMESPACE])) == []


def test_why_an_application_is_not_synced_and_healthy():
    assert application_problems(BROKEN) == BROKEN_LINES


@pytest.mark.parametrize(
    ("sync", "health"),
    [
        ("OutOfSync", "Healthy"),
        ("Synced", "Progressing"),
        ("Synced", "Degraded"),
        ("Synced", "Missing"),
        ("Unknown", "Healthy"),
    ],
)
def test_both_synced_and_healthy_are_needed(sync, health):
    assert application_problems(application(sync=sync, health=health)) == [f"sync {sync}, health {health}"]


@pytest.mark.parametrize("status", [None, {}, {"sync": {}}, {"sync": {"status": "Synced"}}])
def test_a_status_not_reported_yet_is_unknown(status):
    app = application()
    app["status"] = status
    sync = (status or {}).get("sync", {}).get("status", "Unknown")
    assert application_problems(app) == [f"sync {sync}, health Unknown"]


def test_the_health_message_and_a_sync_still_running():
    app = application(health="Progressing", operationState={"phase": "Running", "message": "waiting for healthy state"})
    app["status"]["health"]["message"] = "Waiting for rollout to finish: 1 old replicas are pending termination"
    assert application_problems(app) == [
        "sync Synced, health Progressing: Waiting for rollout to finish: 1 old replicas are pending termination",
        "last sync Running: waiting for healthy state",
    ]


# -- the two callers judge alike -------------------------------------------------------

CASES = [
    application(resources=[SERVICE]),
    BROKEN,
    application(health="Progressing"),
    application(sync="OutOfSync"),
    {**application(), "status": {}},
]


@pytest.mark.parametrize("app", CASES)
def test_the_role_and_the_verify_row_agree(app):
    row = application_row(k8s_info(app), "task-api")
    report = applications_report(["task-api"], [app], "argocd")
    assert (row["result"] == "OK") == (report == "")
    if report:
        assert row["detail"] == [line.removeprefix("- task-api: ").strip() for line in report.splitlines()]


# -- the argocd role's report ------------------------------------------------------------


def test_report_names_each_application_and_why():
    seen = [BROKEN, application("other", resources=[SERVICE])]
    assert applications_report(["task-api", "other", "gone"], seen, "argocd").splitlines() == [
        "- task-api: " + BROKEN_LINES[0],
        *(f"  {line}" for line in BROKEN_LINES[1:]),
        "- gone: no Application gone in namespace argocd: run the platform stage (tag argocd_configure creates it)",
    ]


def test_report_lists_every_bad_resource():
    many = [dict(DEGRADED_DEPLOYMENT, name=f"d-{i:02d}") for i in range(MAX_DETAIL_LINES + 5)]
    report = applications_report(["task-api"], [application(health="Degraded", resources=many)], "argocd")
    assert len(report.splitlines()) == 1 + len(many)


# -- the verify row ------------------------------------------------------------------------


def test_row_ok_names_the_revision():
    assert application_row(k8s_info(application()), "task-api") == {
        "check": "argocd",
        "target": "argocd/task-api",
        "result": "OK",
        "detail": ["Synced to 3f1c2a9d8e7b, Healthy"],
    }


def test_row_fail_lists_why():
    row = application_row(k8s_info(BROKEN), "task-api", "argocd")
    assert row["result"] == "FAIL"
    assert row["detail"] == BROKEN_LINES


def test_row_picks_the_named_application():
    row = application_row(k8s_info(application("other", sync="OutOfSync"), application()), "task-api")
    assert row["result"] == "OK"


def test_row_cuts_long_resource_lists():
    many = [dict(DEGRADED_DEPLOYMENT, name=f"d-{i:02d}") for i in range(MAX_DETAIL_LINES + 5)]
    row = application_row(k8s_info(application(health="Degraded", resources=many)), "task-api")
    assert row["detail"][0] == "sync Synced, health Degraded"
    assert row["detail"][-1] == "... and 5 more"


def test_row_missing_application_and_missing_kind():
    assert application_row(k8s_info(), "task-api", "cd")["detail"] == [
        "no Application task-api in namespace cd: run the platform stage (tag argocd_configure creates it)"
    ]
    no_crd = {
        "failed": False,
        "msg": "Failed to find exact match for argoproj.io/v1alpha1.Application by [kind, name, singularName, shortNames]",
    }
    assert "Argo CD is not installed" in application_row(no_crd, "task-api")["detail"][0]


def test_input_is_not_changed():
    before = copy.deepcopy(BROKEN)
    application_row(k8s_info(BROKEN), "task-api")
    applications_report(["task-api"], [BROKEN], "argocd")
    assert before == BROKEN


def test_not_a_list():
    with pytest.raises(VerifyInputError):
        find_application({"metadata": {"name": "task-api"}}, "task-api")
