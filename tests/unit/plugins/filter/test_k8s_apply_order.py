"""Objects grouped by kind in apply order; unnamed kinds after, in order of appearance."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_apply_order import FilterModule

F = FilterModule().filters()["k8s_apply_order"]


def obj(kind, name):
    return {"kind": kind, "metadata": {"name": name}}


def test_kinds_in_the_given_order_then_the_others_objects_keep_their_order():
    objects = [
        obj("Deployment", "a"),
        obj("Thing", "t1"),
        obj("ServiceAccount", "a"),
        obj("Other", "o"),
        obj("Deployment", "b"),
        obj("Thing", "t2"),
        obj("ServiceAccount", "b"),
    ]
    result = F(objects, ["ServiceAccount", "ConfigMap", "Deployment"])
    assert [(o["kind"], o["metadata"]["name"]) for o in result] == [
        ("ServiceAccount", "a"),
        ("ServiceAccount", "b"),
        ("Deployment", "a"),
        ("Deployment", "b"),
        ("Thing", "t1"),
        ("Thing", "t2"),
        ("Other", "o"),
    ]


def test_empty():
    assert F([], ["Deployment"]) == []


@pytest.mark.parametrize(
    ("objects", "kinds", "message"), [({}, [], "expected a list"), ([], "Deployment", "kinds must be")]
)
def test_bad_input(objects, kinds, message):
    with pytest.raises(AnsibleFilterError, match=message):
        F(objects, kinds)
