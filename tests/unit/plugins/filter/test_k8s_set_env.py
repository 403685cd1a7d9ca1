"""Environment variables set in every container of one workload, nowhere else."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_set_env import FilterModule

F = FilterModule().filters()["k8s_set_env"]


def deployment(name, containers):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": containers}}},
    }


OPERATOR = deployment(
    "cnpg-controller-manager",
    [
        {"name": "manager", "env": [{"name": "WATCH_NAMESPACE", "value": ""}, {"name": "A", "value": "1"}]},
        {"name": "sidecar"},
    ],
)
OTHER = deployment("other", [{"name": "c"}])
SERVICE = {"kind": "Service", "metadata": {"name": "cnpg-controller-manager"}}


def test_replaces_and_appends_in_every_container_of_the_workload_only():
    result = F([SERVICE, OPERATOR, OTHER], "Deployment", "cnpg-controller-manager", {"WATCH_NAMESPACE": "pg,task-api"})
    assert result[0] is SERVICE and result[2] is OTHER
    manager, sidecar = result[1]["spec"]["template"]["spec"]["containers"]
    assert manager["env"] == [{"name": "A", "value": "1"}, {"name": "WATCH_NAMESPACE", "value": "pg,task-api"}]
    assert sidecar["env"] == [{"name": "WATCH_NAMESPACE", "value": "pg,task-api"}]
    assert result[1]["spec"]["replicas"] == 1 and result[1]["spec"]["template"]["metadata"] == {"labels": {"a": "b"}}
    assert OPERATOR["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "", "the input is not modified"


def test_an_unknown_workload_stops_the_run():
    with pytest.raises(AnsibleFilterError, match="no Deployment named 'renamed'"):
        F([OPERATOR], "Deployment", "renamed", {"A": "1"})


@pytest.mark.parametrize(
    ("objects", "env", "message"), [({}, {}, "expected a list"), ([OPERATOR], ["A=1"], "env must be")]
)
def test_bad_input(objects, env, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F(objects, "Deployment", "cnpg-controller-manager", env)
