"""Patches merge into the objects they name by kind/name, as combine(recursive=true) merges."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import combine
from ansible_collections.gauntlet.platform.plugins.filter.k8s_patch_objects import FilterModule

F = FilterModule().filters()["k8s_patch_objects"]
PROM = {
    "kind": "Prometheus",
    "metadata": {"name": "k8s", "labels": {"a": "1"}},
    "spec": {"replicas": 2, "ports": [1, 2]},
}
POLICY = {"kind": "NetworkPolicy", "metadata": {"name": "node-exporter"}, "spec": {}}
SA = {"kind": "ServiceAccount", "metadata": {"name": "grafana"}}
INDEX = {"Prometheus/k8s": PROM, "NetworkPolicy/node-exporter": POLICY, "ServiceAccount/grafana": SA}


def test_patched_dropped_and_in_the_index_order():
    patch = {"metadata": {"labels": {"b": "2"}}, "spec": {"replicas": 1, "ports": [3]}}
    result = F(INDEX, {"Prometheus/k8s": patch}, drop=["NetworkPolicy/node-exporter"])
    assert result == [combine(PROM, patch, recursive=True), SA]
    assert result[0]["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert result[0]["spec"] == {"replicas": 1, "ports": [3]}, "a list in the patch replaces"
    assert PROM["spec"]["replicas"] == 2, "the input is not modified"


def test_no_patches_no_drop():
    assert F(INDEX, {}) == [PROM, POLICY, SA]


@pytest.mark.parametrize(
    ("index", "patches", "message"), [([PROM], {}, "expected a mapping"), (INDEX, [], "patches must be")]
)
def test_bad_input(index, patches, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F(index, patches)


@pytest.mark.parametrize(
    ("patches", "drop", "message"),
    [
        ({"Secret/renamed-upstream": {"data": {}}}, [], "Secret/renamed-upstream.*no object of that kind and name"),
        ({"NetworkPolicy/node-exporter": {"spec": {}}}, ["NetworkPolicy/node-exporter"], "is also dropped"),
    ],
)
def test_a_patch_that_names_no_object_stops_the_run(patches, drop, message):
    """Upstream renaming an object must not silently drop the patch made for it (issue 16
    item 3: the monitoring role's combine ignored such a patch; k8s_overlay refuses it)."""
    with pytest.raises(AnsibleFilterError, match=message):
        F(INDEX, patches, drop=drop)
