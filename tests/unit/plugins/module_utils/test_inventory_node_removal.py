"""validate_inventory's check of gauntlet_remove_node (playbooks/remove-node.yml): the node is a k3s
node of the inventory, and not the first server that the other nodes joined through
(module_utils/inventory/nodes.py node_removal_problems)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.check import inventory_check

# The helpers of the inventory check's own tests (a small valid inventory as the action gathers it).
_SPEC = importlib.util.spec_from_file_location(
    "inventory_check_tests", Path(__file__).with_name("test_inventory_check.py")
)
_TESTS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_TESTS)
CLI = "CLI option -e"


def removing(host, **variables):
    data = _TESTS.with_variable("gauntlet_remove_node", host, origin=CLI)
    for name, value in variables.items():
        for entries in data["hosts"].values():
            entries[name] = _TESTS.entry(value)
    return data


def test_an_agent_of_the_inventory_may_be_named():
    assert inventory_check(removing("a1")) == []


def test_a_host_that_is_not_a_k3s_node_is_refused_with_the_nodes():
    for name in ("r1", "a9"):
        problems = inventory_check(removing(name))
        assert len(problems) == 1, problems
        assert f"gauntlet_remove_node = '{name}' (CLI option -e) is not a k3s node" in problems[0]
        assert "k3s_servers' and 'k3s_agents': s1, a1" in problems[0]


def test_the_first_server_is_refused_while_others_joined_through_it():
    (problem,) = inventory_check(removing("s1"))
    assert "is the first server of 'k3s_servers': a1 joined the cluster through its address" in problem
    assert "gauntlet_control_plane_address" in problem and "Nothing was changed" in problem


def test_the_first_server_may_go_when_the_join_target_is_a_vip():
    assert inventory_check(removing("s1", gauntlet_control_plane_address="10.0.0.50")) == []


def test_the_only_node_is_not_refused_here():
    data = removing("s1")
    data["groups"].update(k3s_cluster=["s1"], k3s_agents=[], all=["s1", "r1"])
    del data["hosts"]["a1"]
    assert inventory_check(data) == []


def test_without_the_variable_nothing_is_checked():
    assert inventory_check(_TESTS.good_data()) == []
