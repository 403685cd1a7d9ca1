"""k3s_node_removal: which removals playbooks/remove-node.yml refuses before touching anything.

The rule (plugins/filter/k3s_node_removal.py): a server is an etcd member (k3s's label
node-role.kubernetes.io/etcd, pkg/etcd/etcd.go EtcdRoleLabel); it is stopped before k3s removes its
member (pkg/etcd/member_controller.go onRemove), so the other Ready members must be a majority of
the current members, and at least one.
"""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k3s_node_removal import node_removal


def node(name, server=False, ready=True):
    labels = {"kubernetes.io/hostname": name}
    if server:
        labels |= {"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/etcd": "true"}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_an_agent_may_always_go():
    result = node_removal([node("s1", True), node("a1"), node("a2")], "a2")
    assert result["found"] and not result["server"] and result["problems"] == []


def test_one_server_of_three_may_go_when_the_other_two_are_ready():
    result = node_removal([node("s1", True), node("s2", True), node("s3", True)], "s3")
    assert result["server"] and result["majority"] == 2 and result["ready_after"] == ["s1", "s2"]
    assert result["problems"] == []


@pytest.mark.parametrize(
    ("nodes", "name", "words"),
    [
        ([node("s1", True), node("a1")], "s1", "only etcd member"),
        ([node("s1", True), node("s2", True)], "s2", "2 etcd members"),
        ([node("s1", True), node("s2", True), node("s3", True, ready=False)], "s2", "not Ready: s3"),
        (
            [node("s1", True), node("s2", True, False), node("s3", True, False), node("s4", True), node("s5", True)],
            "s5",
            "majority of them (3)",
        ),
    ],
    ids=["only-server", "two-servers", "three-one-down", "five-two-down"],
)
def test_a_removal_that_breaks_quorum_is_refused(nodes, name, words):
    problems = node_removal(nodes, name)["problems"]
    assert len(problems) == 1 and words in problems[0], problems
    assert "Nothing was changed" in problems[0]


def test_five_servers_with_one_down_may_lose_another():
    nodes = [node("s1", True), node("s2", True, False), node("s3", True), node("s4", True), node("s5", True)]
    assert node_removal(nodes, "s5")["problems"] == []


def test_a_node_that_is_not_in_the_cluster_is_named():
    problems = node_removal([node("s1", True), node("a1")], "a9")["problems"]
    assert problems and "a9 is not a Node of the cluster (its Nodes: a1, s1)" in problems[0]


@pytest.mark.parametrize(("nodes", "name"), [("s1", "s1"), ([node("s1")], ""), ([1], "s1")])
def test_bad_input_is_a_filter_error(nodes, name):
    with pytest.raises(AnsibleFilterError, match="k3s_node_removal"):
        node_removal(nodes, name)
