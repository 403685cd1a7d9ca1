import copy

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.overlay import OverlayError, overlay, set_namespace


def deployment(name="server", containers=("server", "sidecar")):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": c, "image": f"example/{c}:1", "env": [{"name": "A", "value": "1"}]} for c in containers
                    ],
                    "volumes": [{"name": "tmp", "emptyDir": {}}],
                }
            }
        },
    }


def config_map(name="cm", data=None, namespace=None):
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"a": "1"}}
    if namespace:
        obj["metadata"]["namespace"] = namespace
    return obj


CRD_CLUSTER = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}},
}
CRD_NAMESPACED = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced", "names": {"kind": "Gadget"}},
}


def test_set_namespace_on_namespaced_objects_only():
    objects = [
        CRD_CLUSTER,
        CRD_NAMESPACED,
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "cr"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "crb"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}},
        {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"}},
        config_map(),
        deployment(),
    ]
    before = copy.deepcopy(objects)
    result = set_namespace(objects, "argocd", cluster_kinds=["Thing"])
    assert [o["metadata"].get("namespace") for o in result] == [
        None, None, None, None, None, "argocd", None, "argocd", "argocd"
    ]  # fmt: skip
    assert objects == before, "the input must not change"


def test_set_namespace_keeps_the_same_namespace_and_refuses_another():
    assert set_namespace([config_map(namespace="argocd")], "argocd")[0]["metadata"]["namespace"] == "argocd"
    with pytest.raises(OverlayError, match="ConfigMap cm is already in namespace 'other'"):
        set_namespace([config_map(namespace="other")], "argocd")


@pytest.mark.parametrize(
    ("objects", "namespace", "kinds", "message"),
    [
        ([config_map()], "", (), "namespace must be"),
        ([config_map()], None, (), "namespace must be"),
        ([config_map()], "ns", "Thing", "cluster_kinds must be a list"),
        ({"kind": "ConfigMap"}, "ns", (), "objects must be a list"),
        ([{"kind": "ConfigMap", "metadata": {}}], "ns", (), "needs kind and metadata.name"),
        (["text"], "ns", (), "every object must be a mapping"),
    ],
)
def test_set_namespace_bad_input(objects, namespace, kinds, message):
    with pytest.raises(OverlayError, match=message):
        set_namespace(objects, namespace, cluster_kinds=kinds)


def test_overlay_merges_mappings_and_replaces_scalars():
    objects = [config_map("argocd-cm", {"a": "1", "b": "2"}), config_map("other")]
    result = overlay(objects, [{"kind": "ConfigMap", "metadata": {"name": "argocd-cm"}, "data": {"b": "3", "c": "4"}}])
    assert result[0]["data"] == {"a": "1", "b": "3", "c": "4"}
    assert result[1] == objects[1]
    assert objects[0]["data"] == {"a": "1", "b": "2"}, "the input must not change"


def test_overlay_merges_named_lists_by_name_and_keeps_order():
    patch = {
        "kind": "Deployment",
        "metadata": {"name": "server"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "sidecar", "resources": {"limits": {"memory": "64Mi"}}},
                        {"name": "server", "env": [{"name": "A", "value": "2"}]},
                    ]
                }
            }
        },
    }
    (result,) = overlay([deployment()], [patch])
    server, sidecar = result["spec"]["template"]["spec"]["containers"]
    assert server["name"] == "server" and server["image"] == "example/server:1"
    assert server["env"] == [{"name": "A", "value": "2"}]
    assert sidecar["resources"] == {"limits": {"memory": "64Mi"}} and sidecar["image"] == "example/sidecar:1"
    assert result["spec"]["template"]["spec"]["volumes"] == [{"name": "tmp", "emptyDir": {}}]


def test_overlay_replaces_lists_that_are_not_named():
    obj = config_map()
    obj["spec"] = {"args": ["--a", "--b"]}
    (result,) = overlay([obj], [{"kind": "ConfigMap", "metadata": {"name": "cm"}, "spec": {"args": ["--c"]}}])
    assert result["spec"]["args"] == ["--c"]


def test_overlay_unknown_list_item_is_an_error():
    patch = {
        "kind": "Deployment",
        "metadata": {"name": "server"},
        "spec": {"template": {"spec": {"containers": [{"name": "servr", "resources": {}}]}}},
    }
    with pytest.raises(OverlayError, match=r"containers has no item named 'servr' \(it has server, sidecar\)"):
        overlay([deployment()], [patch])


def test_overlay_must_match_exactly_one_object():
    objects = [config_map("cm", namespace="a"), config_map("cm", namespace="b")]
    with pytest.raises(OverlayError, match="matches no object"):
        overlay(objects, [{"kind": "Secret", "metadata": {"name": "cm"}}])
    with pytest.raises(OverlayError, match=r"matches 2 objects \(set metadata.namespace\)"):
        overlay(objects, [{"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {}}])
    result = overlay(objects, [{"kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "b"}, "data": {"x": "y"}}])
    assert result[0]["data"] == {"a": "1"} and result[1]["data"] == {"a": "1", "x": "y"}


@pytest.mark.parametrize(
    ("objects", "overlays", "message"),
    [
        ([config_map()], {"kind": "ConfigMap"}, "overlays must be a list"),
        ([config_map()], [{"metadata": {"name": "cm"}}], "every overlay needs kind"),
        ("cm", [], "objects must be a list"),
    ],
)
def test_overlay_bad_input(objects, overlays, message):
    with pytest.raises(OverlayError, match=message):
        overlay(objects, overlays)
