"""What the cnpg role renders: the upstream operator, the platform's PostgreSQL cluster,
one role and database per application, and the Task API's database Secret.

Uses the shared `platform_render` fixture (playbooks/platform.yml in render mode from
inventory/sample with a bundle made of ../shared/upstream); a few variants run the role
alone with other settings.
"""

import base64
import copy
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from collection_defaults import collection_defaults, pinned_versions
from pod_security import pod_spec_of, restricted_violations
from upstream import path as upstream_path

REPO = Path(__file__).resolve().parents[2]
CNPG = pinned_versions()["cnpg"]
POSTGRES_IMAGE = collection_defaults()["gauntlet_images"]["postgresql"]
APPS = ["keycloak", "gitea", "task_api"]
NAMESPACE, CLUSTER, HOST = "database", "platform-db", "platform-db-rw.database.svc"
ROLE_ONLY = """---
- name: Render the cnpg role alone
  hosts: localhost
  become: false
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - gauntlet.platform.cnpg
"""


def component(render, name):
    """{file name: object} of one component folder, in apply order."""
    return {p.name: o for p, o in sorted(render.objects.items()) if p.parts[0] == name}


def find(objects, kind, name, namespace=None):
    found = [
        o
        for o in objects.values()
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    ]
    assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def secret_value(secret, key):
    return base64.b64decode(secret["data"][key]).decode()


def credential(render, name):
    return (render.credentials / name).read_text().strip()


@pytest.fixture(scope="module")
def operator(platform_render):
    return component(platform_render, "cnpg")


@pytest.fixture(scope="module")
def cluster(platform_render):
    return component(platform_render, "cnpg-cluster")


def upstream_objects():
    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import manifest_loader

    text = upstream_path(f"cloudnative-pg/{CNPG}/cnpg-{CNPG}.yaml").read_text()
    return [doc for doc in yaml.load_all(text, Loader=manifest_loader()) if doc]


# --- the operator ------------------------------------------------------------------------


def test_operator_is_the_release_manifest_but_namespace_scoped(operator):
    """Unchanged but its Namespace, its cluster-wide binding (gone) and WATCH_NAMESPACE (review M2)."""
    upstream = [o for o in upstream_objects() if o["kind"] != "ClusterRoleBinding"]
    rendered = list(operator.values())
    # The upstream objects first, in their order, then the role's RBAC and monitoring objects
    # and the namespace's NetworkPolicies (docs/security.md, "Network segmentation").
    assert [o["kind"] for o in rendered[: len(upstream)]] == [o["kind"] for o in upstream]
    for ours, theirs in zip(rendered, upstream, strict=False):
        if theirs["kind"] == "Namespace":
            continue
        if theirs["kind"] == "Deployment":
            ours = copy.deepcopy(ours)
            env = ours["spec"]["template"]["spec"]["containers"][0]["env"]
            assert env.pop() == {"name": "WATCH_NAMESPACE", "value": NAMESPACE}
        assert ours == theirs, f"{theirs['kind']} {theirs['metadata']['name']} differs from the release manifest"
    extra = {(o["kind"], o["metadata"]["name"]) for o in rendered[len(upstream) :]}
    assert {k for k, _unused in extra} == {
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "PodMonitor",
        "NetworkPolicy",
        "ServiceAccount",  # the namespace's default one, without a token (role k8s_objects)
    }
    assert ("RoleBinding", "cnpg-manager") in extra
    assert ("ServiceAccount", "default") in extra
    cluster_scoped = find(operator, "ClusterRole", "cnpg-manager-cluster-scoped", None)
    assert sorted(r for rule in cluster_scoped["rules"] for r in rule["resources"]) == [
        "clusterimagecatalogs", "mutatingwebhookconfigurations", "nodes", "validatingwebhookconfigurations"
    ]  # fmt: skip


def test_operator_namespace_keeps_upstream_labels_and_enforces_restricted(operator):
    namespace = find(operator, "Namespace", "cnpg-system")
    labels = namespace["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "cloudnative-pg"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "linkerd.io/inject" not in (namespace["metadata"].get("annotations") or {})


def test_operator_runs_restricted_without_exemption(operator):
    deployment = find(operator, "Deployment", "cnpg-controller-manager", "cnpg-system")
    assert "gauntlet.dev/pod-security-exemption" not in (deployment["metadata"].get("annotations") or {})
    assert restricted_violations(pod_spec_of(deployment)) == []


def test_crds_and_webhooks_come_before_what_needs_them(operator, cluster):
    kinds = [o["kind"] for o in operator.values()]
    assert kinds[0] == "Namespace"
    crds = {o["metadata"]["name"] for o in operator.values() if o["kind"] == "CustomResourceDefinition"}
    assert {"clusters.postgresql.cnpg.io", "databases.postgresql.cnpg.io"} <= crds
    # The Cluster and Databases live in another component, applied after the wait.
    assert not {"Cluster", "Database"} & set(kinds)


def test_operator_metrics_are_scraped(operator):
    monitor = find(operator, "PodMonitor", "cnpg-controller-manager", "cnpg-system")
    deployment = find(operator, "Deployment", "cnpg-controller-manager", "cnpg-system")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    ports = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in ports


# --- the cluster ---------------------------------------------------------------------------


def test_database_namespace_is_restricted_and_not_injected(cluster):
    namespace = find(cluster, "Namespace", NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "linkerd.io/inject" not in (namespace["metadata"].get("annotations") or {})


def test_cluster_fields(cluster):
    spec = find(cluster, "Cluster", CLUSTER, NAMESPACE)["spec"]
    assert spec["instances"] == 1
    assert spec["imageName"] == POSTGRES_IMAGE
    assert spec["storage"] == {"size": "5Gi"}
    assert spec["resources"]["requests"] and spec["resources"]["limits"]
    assert spec["enableSuperuserAccess"] is False
    # Upstream deprecates the operator-made PodMonitor; the role writes its own.
    assert spec["monitoring"] == {"enablePodMonitor": False}


def test_every_app_has_a_login_role_with_its_credential(platform_render, cluster):
    roles = find(cluster, "Cluster", CLUSTER, NAMESPACE)["spec"]["managed"]["roles"]
    assert [r["name"] for r in roles] == APPS
    for role in roles:
        assert role["login"] is True and role["ensure"] == "present"
        assert not role.get("superuser") and not role.get("createdb")
        secret = find(cluster, "Secret", role["passwordSecret"]["name"], NAMESPACE)
        assert secret["type"] == "kubernetes.io/basic-auth"
        assert secret["metadata"]["labels"]["cnpg.io/reload"] == "true"
        assert secret_value(secret, "username") == role["name"]
        password = secret_value(secret, "password")
        assert password == credential(platform_render, f"postgres/{role['name']}")
        assert len(password) >= 32


def test_every_app_has_a_database_it_owns(cluster):
    databases = [o for o in cluster.values() if o["kind"] == "Database"]
    assert [d["spec"]["name"] for d in databases] == APPS
    for database in databases:
        assert database["apiVersion"] == "postgresql.cnpg.io/v1"
        assert database["metadata"]["namespace"] == NAMESPACE
        assert database["spec"]["owner"] == database["spec"]["name"]
        assert database["spec"]["cluster"] == {"name": CLUSTER}
        assert database["spec"]["ensure"] == "present"
        assert database["spec"]["databaseReclaimPolicy"] == "retain"


def test_instances_are_scraped_by_a_podmonitor_with_prometheus_access(cluster):
    monitor = find(cluster, "PodMonitor", CLUSTER, NAMESPACE)
    assert monitor["spec"]["selector"]["matchLabels"] == {"cnpg.io/cluster": CLUSTER, "cnpg.io/podRole": "instance"}
    assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "metrics"}]
    binding = find(cluster, "RoleBinding", "prometheus-k8s-discovery", NAMESPACE)
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}]
    role = find(cluster, "Role", binding["roleRef"]["name"], NAMESPACE)
    assert {"pods", "services"} <= {r for rule in role["rules"] for r in rule["resources"]}


def test_task_api_database_uri(platform_render, cluster):
    secret = find(cluster, "Secret", "task-api-database", "task-api")
    password = credential(platform_render, "postgres/task_api")
    uri = secret_value(secret, "uri")
    assert uri == f"postgresql://task_api:{password}@{HOST}:5432/task_api"
    parts = urlsplit(uri)
    assert (parts.scheme, parts.username, parts.password, parts.hostname, parts.port, parts.path) == (
        "postgresql",
        "task_api",
        password,
        HOST,
        5432,
        "/task_api",
    )
    # The same password the cluster gives role task_api.
    role_secret = find(cluster, "Secret", "platform-db-task-api", NAMESPACE)
    assert secret_value(role_secret, "password") == password


def test_task_api_namespace_is_ansibles_and_admits_meshed_pods(cluster):
    """Ansible owns it (docs/platform.md): gitops/ has no namespace.yaml, Argo CD never prunes it."""
    assert not (REPO / "gitops/task-api/namespace.yaml").exists()
    namespace = find(cluster, "Namespace", "task-api")
    labels = namespace["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "gauntlet"
    # The Task API's pods are injected by their own annotation; Linkerd's CNI plugin keeps them restricted.
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert namespace["metadata"]["annotations"] == {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}


def test_apply_order(cluster):
    order = [(o["kind"], o["metadata"]["name"]) for o in cluster.values()]
    position = {item: index for index, item in enumerate(order)}
    assert order[0] == ("Namespace", NAMESPACE)
    cluster_at = position[("Cluster", CLUSTER)]
    for app in APPS:
        name = "platform-db-" + app.replace("_", "-")
        assert position[("Secret", name)] < cluster_at < position[("Database", name)]
    assert position[("Namespace", "task-api")] < position[("Secret", "task-api-database")]


# --- other settings ------------------------------------------------------------------------


def run_role(platform_render, render_tools, tmp_path, extra):
    playbook = tmp_path / "cnpg.yml"
    playbook.write_text(ROLE_ONLY)
    out = tmp_path / "render"
    args = {
        "gauntlet_render_dir": str(out),
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        "gauntlet_bundle_dir": str(platform_render.bundle),
        **extra,
    }
    result = render_tools.run_playbook(playbook, "-e", json.dumps(args))
    objects = {p.relative_to(out): yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))}
    return result, objects


def test_ha_cluster_with_own_storage_and_fewer_databases(platform_render, render_tools, tmp_path):
    result, objects = run_role(
        platform_render,
        render_tools,
        tmp_path,
        {
            "cnpg_instances": 3,
            "cnpg_storage_size": "20Gi",
            "cnpg_storage_class": "fast",
            "cnpg_databases": ["keycloak"],
            "cnpg_postgresql_parameters": {"max_connections": 300},
            "cnpg_monitoring": False,
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cluster = {p.name: o for p, o in objects.items() if p.parts[0] == "cnpg-cluster"}
    spec = find(cluster, "Cluster", CLUSTER, NAMESPACE)["spec"]
    assert spec["instances"] == 3
    assert spec["storage"] == {"size": "20Gi", "storageClass": "fast"}
    assert spec["postgresql"] == {"parameters": {"max_connections": "300"}}
    assert [r["name"] for r in spec["managed"]["roles"]] == ["keycloak"]
    kinds = {o["kind"] for o in objects.values()}
    assert "PodMonitor" not in kinds
    # The only RoleBinding left is the operator's own in the database namespace (no Prometheus discovery).
    bindings = [o for o in objects.values() if o["kind"] == "RoleBinding"]
    assert {b["metadata"]["name"] for b in bindings} == {"cnpg-manager"}
    # Without task_api there is no Task API namespace or Secret.
    assert not [o for o in cluster.values() if o["metadata"].get("namespace") == "task-api"]


def test_a_meshed_operator_namespace_is_annotated_for_injection(platform_render, render_tools, tmp_path):
    """The operator namespace's Linkerd annotation and its meshed NetworkPolicies follow
    gauntlet_linkerd_inject_namespaces together. Failed before: the role merged only the labels
    of the platform's Namespace into upstream's, so the policies said meshed and nothing was injected."""
    inject = [*collection_defaults()["gauntlet_linkerd_inject_namespaces"], "cnpg-system"]
    result, objects = run_role(platform_render, render_tools, tmp_path, {"gauntlet_linkerd_inject_namespaces": inject})
    assert result.returncode == 0, result.stdout + result.stderr
    operator = {p.name: o for p, o in objects.items() if p.parts[0] == "cnpg"}
    metadata = find(operator, "Namespace", "cnpg-system")["metadata"]
    assert metadata["annotations"] == {"linkerd.io/inject": "enabled"}
    assert metadata["labels"]["app.kubernetes.io/name"] == "cloudnative-pg"
    assert metadata["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert find(operator, "NetworkPolicy", "linkerd-proxy", "cnpg-system")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"cnpg_instances": 0}, "cnpg_instances must be an integer >= 1"),
        ({"cnpg_instances": -1}, "cnpg_instances must be an integer >= 1"),
        ({"cnpg_storage_size": "lots"}, "cnpg_storage_size a Kubernetes"),
        ({"cnpg_databases": ["Task-API"]}, "cnpg_databases a list of distinct"),
        ({"cnpg_databases": ["a_b", "a_b"]}, "cnpg_databases a list of distinct"),
        ({"cnpg_network_clients": [{"ns": "keycloak"}]}, "cnpg_network_clients must be a non-empty list"),
        ({"cnpg_network_clients": []}, "cnpg_network_clients must be a non-empty list"),
    ],
)
def test_bad_settings_stop_with_a_message(platform_render, render_tools, tmp_path, extra, message):
    result, objects = run_role(platform_render, render_tools, tmp_path, extra)
    assert result.returncode != 0
    assert message in " ".join((result.stdout + result.stderr).split())
    assert not objects
