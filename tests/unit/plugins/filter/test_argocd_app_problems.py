"""The argocd role's report: each Application that is missing or not Synced and Healthy, and why
(the judgement itself: tests/unit/plugins/module_utils/test_verify_argocd.py)."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.argocd_app_problems import FilterModule

F = FilterModule().filters()["argocd_app_problems"]
APPS = [{"name": "task-api"}, {"name": "other"}]


def app(name, status):
    return {"metadata": {"name": name}, "status": status}


HEALTHY = {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}


def test_every_application_fine_is_no_lines():
    assert F(APPS, [app("task-api", HEALTHY), app("other", HEALTHY)], namespace="argocd") == ""


def test_a_missing_application_names_the_namespace():
    assert F(APPS[:1], [app("other", HEALTHY)], namespace="argocd") == (
        "- task-api: no Application task-api in namespace argocd: run the platform stage (tag argocd_configure creates it)\n"
    )


def test_the_causes_of_one_application():
    status = {
        "sync": {"status": "OutOfSync"},
        "health": {"status": "Degraded", "message": "Deployment has 0 ready replicas"},
        "conditions": [{"type": "ComparisonError", "message": "authentication required"}],
        "operationState": {"phase": "Failed", "message": "one or more objects failed to apply"},
        "resources": [
            {"kind": "Service", "namespace": "task-api", "name": "task-api", "status": "Synced", "health": {"status": "Healthy"}},
            {"kind": "Deployment", "namespace": "task-api", "name": "task-api", "status": "Synced",
             "health": {"status": "Degraded", "message": "ImagePullBackOff"}},
            {"kind": "ClusterRole", "name": "x", "status": "OutOfSync"},
        ],
    }  # fmt: skip
    assert F(APPS, [app("task-api", status), app("other", HEALTHY)], namespace="argocd").splitlines() == [
        "- task-api: sync OutOfSync, health Degraded: Deployment has 0 ready replicas",
        "  condition ComparisonError: authentication required",
        "  last sync Failed: one or more objects failed to apply",
        "  Deployment task-api/task-api: Synced, Degraded: ImagePullBackOff",
        "  ClusterRole x: OutOfSync",
    ]


@pytest.mark.parametrize("status", [None, {}, {"sync": {}}])
def test_a_status_not_reported_yet_is_unknown(status):
    assert F(APPS[:1], [app("task-api", status)], namespace="argocd") == "- task-api: sync Unknown, health Unknown\n"


def test_not_lists():
    with pytest.raises(AnsibleFilterError, match="as lists"):
        F({"name": "task-api"}, [], namespace="argocd")


def test_every_application_wanted_has_a_name():
    with pytest.raises(AnsibleFilterError, match="needs a name"):
        F([{"path": "task-api"}], [], namespace="argocd")
