"""Grafana's dashboard ConfigMaps: one volume and one read-only mount each, upstream's sorted first."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.grafana_dashboard_volumes import FilterModule

F = FilterModule().filters()["grafana_dashboard_volumes"]


def test_upstream_sorted_ignoring_case_then_the_platforms_in_order():
    result = F(["nodes", "Alerts", "k8s"], ["task-api", "cluster"], upstream_path="/up", gauntlet_path="/own")
    assert result["volumeMounts"] == [
        {"name": "grafana-dashboard-Alerts", "mountPath": "/up/Alerts", "readOnly": True},
        {"name": "grafana-dashboard-k8s", "mountPath": "/up/k8s", "readOnly": True},
        {"name": "grafana-dashboard-nodes", "mountPath": "/up/nodes", "readOnly": True},
        {"name": "grafana-dashboard-gauntlet-task-api", "mountPath": "/own/task-api", "readOnly": True},
        {"name": "grafana-dashboard-gauntlet-cluster", "mountPath": "/own/cluster", "readOnly": True},
    ]
    assert result["volumes"] == [{"name": m["name"], "configMap": {"name": m["name"]}} for m in result["volumeMounts"]]


def test_no_dashboards():
    assert F([], [], upstream_path="/up", gauntlet_path="/own") == {"volumeMounts": [], "volumes": []}


@pytest.mark.parametrize(("upstream", "gauntlet", "what"), [("nodes", [], "upstream"), ([], None, "gauntlet")])
def test_names_must_be_lists(upstream, gauntlet, what):
    with pytest.raises(AnsibleFilterError, match=f"{what} must be a list"):
        F(upstream, gauntlet, upstream_path="/up", gauntlet_path="/own")
