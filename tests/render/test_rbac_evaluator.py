"""The RBAC evaluator of the secret-access render test (rbac.py), on small hand-written
objects and on the upstream Argo CD install manifest. No render needed: these are fast."""

import pytest
import yaml
from rbac import ALL, RBACError, Subject, secret_readers

SA = "ServiceAccount"


def cluster_role(name, rules, labels=None, aggregation=None):
    role = {"kind": "ClusterRole", "metadata": {"name": name, "labels": labels or {}}, "rules": rules}
    if aggregation:
        role["aggregationRule"] = {"clusterRoleSelectors": aggregation}
    return role


def role(namespace, name, rules):
    return {"kind": "Role", "metadata": {"name": name, "namespace": namespace}, "rules": rules}


def binding(kind, name, role_kind, role_name, subjects, namespace=None):
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": metadata, "roleRef": {"kind": role_kind, "name": role_name}, "subjects": subjects}


def sa(namespace, name):
    return {"kind": SA, "name": name, "namespace": namespace}


SECRETS = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}


def test_cluster_role_binding_reads_everywhere_role_binding_in_its_namespace():
    objects = [
        cluster_role("reader", [SECRETS]),
        binding("ClusterRoleBinding", "everywhere", "ClusterRole", "reader", [sa("a", "one")]),
        binding("RoleBinding", "here", "ClusterRole", "reader", [sa("a", "two")], namespace="b"),
    ]
    assert secret_readers(objects) == {Subject(SA, "one", "a"): {ALL: ALL}, Subject(SA, "two", "a"): {"b": ALL}}


def test_wildcards_match_and_other_resources_do_not():
    objects = [
        cluster_role("star", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}]),
        cluster_role("pods", [{"apiGroups": [""], "resources": ["pods", "configmaps"], "verbs": ["*"]}]),
        cluster_role("other-group", [{"apiGroups": ["apps"], "resources": ["secrets"], "verbs": ["*"]}]),
        cluster_role("write-only", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]}]),
        binding("ClusterRoleBinding", "x", "ClusterRole", "star", [sa("a", "star")]),
        binding("ClusterRoleBinding", "y", "ClusterRole", "pods", [sa("a", "pods")]),
        binding("ClusterRoleBinding", "z", "ClusterRole", "other-group", [sa("a", "apps")]),
        binding("ClusterRoleBinding", "w", "ClusterRole", "write-only", [sa("a", "writer")]),
    ]
    assert secret_readers(objects) == {Subject(SA, "star", "a"): {ALL: ALL}}


def test_resource_names_narrow_and_service_account_defaults_to_the_binding_namespace():
    objects = [
        role("ns", "named", [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s1"], "verbs": ["get"]}]),
        binding("RoleBinding", "named", "Role", "named", [{"kind": SA, "name": "svc"}], namespace="ns"),
    ]
    assert secret_readers(objects) == {Subject(SA, "svc", "ns"): {"ns": frozenset({"s1"})}}


def test_aggregated_roles_take_the_rules_of_the_roles_they_select():
    objects = [
        cluster_role("piece", [SECRETS], labels={"aggregate-me": "true"}),
        cluster_role("whole", [], aggregation=[{"matchLabels": {"aggregate-me": "true"}}]),
        binding("ClusterRoleBinding", "b", "ClusterRole", "whole", [{"kind": "Group", "name": "ops"}]),
    ]
    assert secret_readers(objects) == {Subject("Group", "ops"): {ALL: ALL}}


def test_built_in_roles_and_what_rendered_roles_add_to_them():
    objects = [
        binding("RoleBinding", "e", "ClusterRole", "edit", [sa("x", "editor")], namespace="x"),
        binding("RoleBinding", "v", "ClusterRole", "view", [sa("x", "viewer")], namespace="x"),
    ]
    assert secret_readers(objects) == {Subject(SA, "editor", "x"): {"x": ALL}}
    # A rendered ClusterRole labelled aggregate-to-view adds its rules to the built-in view.
    objects.append(cluster_role("leak", [SECRETS], labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"}))
    assert secret_readers(objects)[Subject(SA, "viewer", "x")] == {"x": ALL}


def test_built_in_namespaced_roles_are_known_and_others_are_errors():
    """linkerd-viz's tap binds the built-in Role kube-system/extension-apiserver-authentication-reader
    (bootstrap namespace_policy.go: one ConfigMap, no Secret)."""
    builtin = binding(
        "RoleBinding",
        "t",
        "Role",
        "extension-apiserver-authentication-reader",
        [sa("viz", "tap")],
        namespace="kube-system",
    )
    assert secret_readers([builtin]) == {}
    unseen = binding("RoleBinding", "u", "Role", "extension-apiserver-authentication-reader", [sa("viz", "tap")], "x")
    with pytest.raises(RBACError, match="not rendered"):
        secret_readers([unseen])


def test_a_binding_to_an_unseen_role_is_an_error():
    objects = [binding("ClusterRoleBinding", "b", "ClusterRole", "somebody-elses", [sa("a", "b")])]
    with pytest.raises(RBACError, match="somebody-elses"):
        secret_readers(objects)


def test_upstream_argocd_server_reads_every_secret(render_tools):
    """The reason for this test file: upstream's argocd-server ClusterRole is get on */*."""
    path = render_tools.upstream_path("argo-cd/v3.5.1/install.yaml")
    objects = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    for obj in objects:  # kubectl apply -n argocd puts namespaced objects there
        if obj["kind"] in ("Role", "RoleBinding"):
            obj["metadata"]["namespace"] = "argocd"
    readers = secret_readers(objects)
    assert readers[Subject(SA, "argocd-server", "argocd")] == {ALL: ALL, "argocd": ALL}
    assert readers[Subject(SA, "argocd-redis", "argocd")] == {"argocd": frozenset({"argocd-redis"})}
