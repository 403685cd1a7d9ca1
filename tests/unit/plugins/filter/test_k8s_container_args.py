"""One container's arguments change; the pod's other containers stay as they are."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_container_args import FilterModule

F = FilterModule().filters()["k8s_container_args"]
CONTAINERS = [
    {
        "name": "operator",
        "args": ["--kubelet-service=kube-system/kubelet", "--watch-referenced-objects-in-all-namespaces=true"],
    },
    {"name": "kube-rbac-proxy", "args": ["--secure-listen-address=:8443"]},
]


def test_append_after_the_containers_own_arguments():
    result = F(CONTAINERS, "kube-rbac-proxy", append=["--a", "--b"])
    assert result[1]["args"] == ["--secure-listen-address=:8443", "--a", "--b"]
    assert result[0] is CONTAINERS[0]
    assert CONTAINERS[1]["args"] == ["--secure-listen-address=:8443"], "the input is not modified"


def test_drop_matches_at_the_start_of_each_argument():
    result = F(CONTAINERS, "operator", drop="^--watch-referenced-objects-in-all-namespaces", append=["--x=monitoring"])
    assert result[0]["args"] == ["--kubelet-service=kube-system/kubelet", "--x=monitoring"]
    assert F(CONTAINERS, "operator", drop="kubelet")[0]["args"] == CONTAINERS[0]["args"], "match, not search"


def test_a_container_without_args_gets_the_appended_ones():
    assert F([{"name": "c"}], "c", append=["--y"]) == [{"name": "c", "args": ["--y"]}]


def test_an_unknown_container_stops_the_run():
    with pytest.raises(AnsibleFilterError, match="no container named 'renamed'"):
        F(CONTAINERS, "renamed", append=["--a"])


def test_not_a_list():
    with pytest.raises(AnsibleFilterError, match="expected a list of containers"):
        F({"name": "c"}, "c")
