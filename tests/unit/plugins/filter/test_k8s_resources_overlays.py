"""Requests and limits by workload and container become overlays for k8s_overlay."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_overlay import FilterModule as OverlayFilters
from ansible_collections.gauntlet.platform.plugins.filter.k8s_resources_overlays import FilterModule

F = FilterModule().filters()["k8s_resources_overlays"]
SMALL = {"requests": {"cpu": "10m"}}
BIG = {"limits": {"cpu": "1"}}


def workload(kind, name, containers, init=()):
    pod = {"containers": [{"name": c} for c in containers]}
    if init:
        pod["initContainers"] = [{"name": c} for c in init]
    return {"kind": kind, "metadata": {"name": name}, "spec": {"template": {"spec": pod}}}


UPSTREAM = [
    {"kind": "Service", "metadata": {"name": "argocd-repo-server"}},
    workload("Deployment", "argocd-repo-server", ["argocd-repo-server"], init=["copyutil"]),
    workload("StatefulSet", "argocd-application-controller", ["argocd-application-controller"]),
]


def test_kind_and_init_containers_come_from_upstream():
    resources = {
        "argocd-repo-server": {"argocd-repo-server": BIG, "copyutil": SMALL},
        "argocd-application-controller": {"argocd-application-controller": BIG},
        "argocd-empty": {},
    }
    assert F(resources, UPSTREAM) == [
        {
            "kind": "Deployment",
            "metadata": {"name": "argocd-repo-server"},
            "spec": {
                "template": {
                    "spec": {
                        "initContainers": [{"name": "copyutil", "resources": SMALL}],
                        "containers": [{"name": "argocd-repo-server", "resources": BIG}],
                    }
                }
            },
        },
        {
            "kind": "StatefulSet",
            "metadata": {"name": "argocd-application-controller"},
            "spec": {
                "template": {"spec": {"containers": [{"name": "argocd-application-controller", "resources": BIG}]}}
            },
        },
    ]


def test_the_overlays_apply_to_the_upstream_objects():
    overlays = F({"argocd-repo-server": {"copyutil": SMALL}}, UPSTREAM)
    repo = OverlayFilters().filters()["k8s_overlay"](UPSTREAM, overlays)[1]
    assert repo["spec"]["template"]["spec"]["initContainers"] == [{"name": "copyutil", "resources": SMALL}]


def test_a_workload_upstream_lacks_is_a_deployment_overlay():
    (overlay,) = F({"missing": {"c": SMALL}}, UPSTREAM)
    assert overlay["kind"] == "Deployment"
    assert overlay["spec"]["template"]["spec"] == {"containers": [{"name": "c", "resources": SMALL}]}


@pytest.mark.parametrize(
    ("resources", "upstream", "message"),
    [([], [], "expected {workload"), ({}, {}, "upstream must be"), ({"w": ["c"]}, [], "w: expected {container")],
)
def test_bad_input(resources, upstream, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F(resources, upstream)
