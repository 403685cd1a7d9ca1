import copy

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.overlay import (
    OverlayError,
    drop,
    move_to_namespace,
    overlay,
    set_namespace,
)


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


# --- strategic merge patch directives ----------------------------------------------------


def containers_patch(*containers, volumes=None):
    pod = {"containers": list(containers)}
    if volumes is not None:
        pod["volumes"] = volumes
    return {"kind": "Deployment", "metadata": {"name": "server"}, "spec": {"template": {"spec": pod}}}


def test_replace_makes_the_overlay_list_replace_a_named_list():
    """What combine(recursive=true) did to every list (the monitoring role's Grafana volumes)."""
    volumes = [{"$patch": "replace"}, {"name": "new", "configMap": {"name": "x"}}, {"name": "tmp", "emptyDir": {}}]
    (result,) = overlay([deployment()], [containers_patch(volumes=volumes)])
    assert result["spec"]["template"]["spec"]["volumes"] == [
        {"name": "new", "configMap": {"name": "x"}},
        {"name": "tmp", "emptyDir": {}},
    ]
    (result,) = overlay([deployment()], [containers_patch({"name": "server", "env": [{"$patch": "replace"}]})])
    server, sidecar = result["spec"]["template"]["spec"]["containers"]
    assert server["env"] == [] and server["image"] == "example/server:1"
    assert sidecar["env"] == [{"name": "A", "value": "1"}]
    # A list the object lacks: the overlay's items, as for any list added.
    (result,) = overlay(
        [deployment()], [containers_patch({"name": "server", "ports": [{"$patch": "replace"}, {"name": "p"}]})]
    )
    assert result["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"name": "p"}]


def test_delete_removes_a_named_item_and_keeps_the_order():
    obj = {
        "kind": "PrometheusRule",
        "metadata": {"name": "rules"},
        "spec": {"groups": [{"name": "a", "rules": []}, {"name": "b", "rules": []}, {"name": "c", "rules": [1]}]},
    }
    patch = {
        "kind": "PrometheusRule",
        "metadata": {"name": "rules"},
        "spec": {"groups": [{"name": "b", "$patch": "delete"}]},
    }
    before = copy.deepcopy(obj)
    (result,) = overlay([obj], [patch])
    assert result["spec"]["groups"] == [{"name": "a", "rules": []}, {"name": "c", "rules": [1]}]
    assert obj == before, "the input must not change"


def test_delete_naming_an_item_upstream_lacks_is_an_error():
    """A rule group renamed upstream must not come back silently (the monitoring role's
    rejectattr on group names kept such a group without a word)."""
    with pytest.raises(OverlayError, match=r"containers has no item named 'servr'"):
        overlay([deployment()], [containers_patch({"name": "servr", "$patch": "delete"})])


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        # A directive where nothing is merged would reach the API server as a field.
        (
            containers_patch({"name": "server", "resources": {"$patch": "replace"}}),
            r"resources: \$patch 'replace' has nothing",
        ),
        (
            containers_patch({"name": "server", "env": [{"$patch": "replace"}, {"$patch": "delete"}]}),
            r"env\[0\]: \$patch 'delete'",
        ),
        (
            containers_patch({"name": "server", "$patch": "replace"}),
            r"\[server\]: an item of a named list takes \$patch 'delete'",
        ),
        (containers_patch({"name": "server", "image": "x", "$patch": "delete"}), "with its name only"),
        (
            {"kind": "Deployment", "metadata": {"name": "server"}, "$patch": "delete"},
            r"Deployment server: \$patch 'delete'",
        ),
    ],
)
def test_a_directive_elsewhere_is_an_error(patch, message):
    with pytest.raises(OverlayError, match=message):
        overlay([deployment()], [patch])


# --- objects left out, objects moved -------------------------------------------------------


def test_drop_leaves_out_the_named_objects_in_any_namespace():
    objects = [config_map("a", namespace="x"), config_map("b"), deployment(), config_map("a", namespace="y")]
    assert drop(objects, ["ConfigMap/a"]) == [objects[1], objects[2]]
    assert drop(objects, []) == objects


def test_drop_naming_no_object_is_an_error():
    """An object renamed upstream must not come back without a word (k8s_patch_objects, which the
    monitoring role used before, ignored a drop naming no object)."""
    with pytest.raises(
        OverlayError, match=r"no object to leave out named NetworkPolicy/renamed; was it renamed upstream\?"
    ):
        drop([config_map()], ["ConfigMap/cm", "NetworkPolicy/renamed"])


def test_drop_of_an_object_an_overlay_changes_is_an_error():
    with pytest.raises(OverlayError, match="ConfigMap/cm is changed by an overlay and left out as well"):
        drop([config_map()], ["ConfigMap/cm"], [{"kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {}}])


@pytest.mark.parametrize(
    ("names", "message"),
    [("ConfigMap/cm", "names must be a list"), (["cm"], "names must be a list"), (["a/"], "names must")],
)
def test_drop_bad_names(names, message):
    with pytest.raises(OverlayError, match=message):
        drop([config_map()], names)


def test_move_to_namespace_moves_only_the_named_objects():
    objects = [config_map("a", namespace="monitoring"), config_map("b", namespace="monitoring"), deployment()]
    before = copy.deepcopy(objects)
    result = move_to_namespace(objects, ["ConfigMap/a", "Deployment/server"], "node-exporter")
    assert [o["metadata"].get("namespace") for o in result] == ["node-exporter", "monitoring", "node-exporter"]
    assert result[1] is objects[1]
    assert objects == before, "the input must not change"


@pytest.mark.parametrize(
    ("objects", "names", "namespace", "message"),
    [
        ([config_map()], ["ConfigMap/renamed"], "ns", "ConfigMap/renamed to move to namespace ns matches no objects"),
        ([config_map(namespace="a"), config_map(namespace="b")], ["ConfigMap/cm"], "ns", "matches 2 objects"),
        ([{"kind": "ClusterRole", "metadata": {"name": "cr"}}], ["ClusterRole/cr"], "ns", "is cluster-scoped"),
        ([config_map()], ["ConfigMap/cm"], "", "namespace must be"),
    ],
)
def test_move_to_namespace_must_land(objects, names, namespace, message):
    with pytest.raises(OverlayError, match=message):
        move_to_namespace(objects, names, namespace)
