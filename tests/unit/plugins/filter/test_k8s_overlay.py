import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k8s_overlay import FilterModule

FILTERS = FilterModule().filters()
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}


def test_filters_wrap_the_module_utils():
    (namespaced,) = FILTERS["k8s_set_namespace"]([CM], "argocd")
    assert namespaced["metadata"] == {"name": "cm", "namespace": "argocd"}
    (merged,) = FILTERS["k8s_overlay"]([CM], [{"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"b": "2"}}])
    assert merged["data"] == {"a": "1", "b": "2"}
    (moved,) = FILTERS["k8s_move_to_namespace"]([CM], ["ConfigMap/cm"], "other")
    assert moved["metadata"] == {"name": "cm", "namespace": "other"}
    assert FILTERS["k8s_drop_objects"]([CM], ["ConfigMap/cm"]) == []
    assert FILTERS["k8s_drop_objects"]([CM], ["ConfigMap/cm"], None) == [], "no overlays"


def test_cluster_kinds_default_and_given():
    thing = {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}}
    assert FILTERS["k8s_set_namespace"]([thing], "ns")[0]["metadata"]["namespace"] == "ns"
    assert "namespace" not in FILTERS["k8s_set_namespace"]([thing], "ns", ["Thing"])[0]["metadata"]


def test_errors_are_filter_errors_naming_the_filter():
    with pytest.raises(AnsibleFilterError, match="k8s_set_namespace: namespace must be"):
        FILTERS["k8s_set_namespace"]([CM], "")
    with pytest.raises(AnsibleFilterError, match="k8s_overlay: overlay Secret cm matches no object"):
        FILTERS["k8s_overlay"]([CM], [{"kind": "Secret", "metadata": {"name": "cm"}}])
    with pytest.raises(AnsibleFilterError, match="k8s_move_to_namespace: Secret/cm to move"):
        FILTERS["k8s_move_to_namespace"]([CM], ["Secret/cm"], "other")
    with pytest.raises(AnsibleFilterError, match="k8s_drop_objects: no object to leave out named Secret/cm"):
        FILTERS["k8s_drop_objects"]([CM], ["Secret/cm"])
