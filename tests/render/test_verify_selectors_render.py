"""Every label selector the verify role uses selects pods the platform really runs (review §8).

The pods are the pod templates of the workloads playbooks/platform.yml renders (shared
`platform_render` fixture) and of the gitops/ kustomizations Argo CD applies.
"""

import re
from pathlib import Path

import gitops_render
import pytest
import yaml
from collection_defaults import collection_defaults

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}


@pytest.fixture(scope="module")
def pods(platform_render):
    """[(namespace, pod labels, container names)] of every rendered workload."""
    objects = list(platform_render.objects.values())
    objects += [o for _unused, o in gitops_render.objects()]
    return [
        (
            o["metadata"].get("namespace"),
            o["spec"]["template"]["metadata"].get("labels") or {},
            {c["name"] for c in o["spec"]["template"]["spec"]["containers"]},
        )
        for o in objects
        if o["kind"] in WORKLOADS
    ]


def selects(selector, labels):
    """An equality-based label selector (`k=v,k2=v2`, the form verify passes to k8s_info)."""
    for term in selector.split(","):
        key, _unused, value = term.strip().partition("=")
        if labels.get(key) != value:
            return False
    return True


def test_dns_pod_candidates_select_a_workload_with_that_container(pods):
    defaults = yaml.safe_load((REPO / "roles/verify/defaults/main.yml").read_text())
    candidates = defaults["verify_dns_pod_candidates"]
    namespaces = collection_defaults()["gauntlet_namespaces"]
    assert candidates
    for candidate in candidates:
        # The defaults name the namespace through the contract (gauntlet_namespaces).
        wanted = re.sub(
            r"\{\{\s*gauntlet_namespaces\.(\w+)\s*\}\}", lambda m: namespaces[m.group(1)], candidate["namespace"]
        )
        matching = [
            containers
            for namespace, labels, containers in pods
            if namespace == wanted and selects(candidate["label_selector"], labels)
        ]
        assert matching, f"{candidate}: no rendered workload's pods carry these labels"
        assert any(candidate["container"] in containers for containers in matching), candidate
