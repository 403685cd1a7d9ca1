"""The argocd role as rendered by playbooks/platform.yml (issue "Platform services I", item 5).

Uses the shared `platform_render` fixture (two renders from inventory/sample with an upstream
bundle) and checks what is particular to Argo CD: the upstream manifest put into its namespace,
the platform's settings merged in, the admin password, SSO, the gitops wiring. A second run with
other settings (and a rotated admin password) checks the role's switches.
"""

import base64
import fnmatch
import hashlib
import json
import re
import shutil
import sys
from pathlib import Path

import argocd_webhook
import gitops_render
import pytest
import yaml
from collection_defaults import collection_defaults
from passlib.hash import bcrypt
from upstream import path as upstream_path

REPO = Path(__file__).resolve().parents[2]
UPSTREAM_MANIFEST = "argo-cd/v3.5.1/install.yaml"  # in the upstream folder (tests/upstream.py)
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
NAMESPACE = "argocd"
# Gitea's public name (ROOT_URL), so that Gitea's push notices match the Application.
REPO_URL = "https://gitea.local/gauntlet/gitops.git"
CONTAINER_KEYS = ("initContainers", "containers")


def upstream_objects():
    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import manifest_loader

    return [d for d in yaml.load_all(upstream_path(UPSTREAM_MANIFEST).read_text(), Loader=manifest_loader()) if d]


def component(render, name):
    """{(kind, name): object} of one component folder, and the objects in file order."""
    items = sorted((p, o) for p, o in render.objects.items() if p.parts[0] == name)
    return {(o["kind"], o["metadata"]["name"]): o for _unused, o in items}, [o for _unused, o in items]


def secret_data(secret):
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def credential(render, name):
    return (render.credentials / name).read_text().rstrip("\n")


@pytest.fixture(scope="module")
def argocd(platform_render):
    objects, ordered = component(platform_render, "argocd")
    crds, _unused = component(platform_render, "argocd-crds")
    apps, app_list = component(platform_render, "argocd-apps")
    return {"objects": objects, "ordered": ordered, "crds": crds, "apps": apps, "app_list": app_list}


def test_components_and_apply_order(argocd):
    assert [name for _unused, name in argocd["crds"]] == [
        "applications.argoproj.io",
        "applicationsets.argoproj.io",
        "appprojects.argoproj.io",
    ]
    assert argocd["ordered"][0]["kind"] == "Namespace" and argocd["ordered"][0]["metadata"]["name"] == NAMESPACE
    assert [o["kind"] for o in argocd["app_list"]] == ["Secret", "AppProject", "Application"]
    assert not any(o["kind"] == "CustomResourceDefinition" for o in argocd["ordered"] + argocd["app_list"])


def test_crds_are_upstreams_unchanged(argocd):
    upstream = {o["metadata"]["name"]: o for o in upstream_objects() if o["kind"] == "CustomResourceDefinition"}
    for (_unused, name), crd in argocd["crds"].items():
        assert crd == upstream[name], f"CRD {name} differs from the upstream manifest"


def test_namespace_set_on_every_namespaced_object(argocd):
    for (kind, name), obj in {**argocd["objects"], **argocd["apps"]}.items():
        if name.endswith("-destination"):  # namespaced mode: rights in the destination namespaces
            assert (kind, obj["metadata"]["namespace"]) == ("RoleBinding", "task-api"), name
        elif kind in CLUSTER_KINDS:
            assert "namespace" not in obj["metadata"], f"{kind} {name} is cluster-scoped"
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{kind} {name} is not in {NAMESPACE}"


def test_every_upstream_object_but_dex_is_applied(argocd):
    wanted = {
        (o["kind"], o["metadata"]["name"])
        for o in upstream_objects()
        if o["kind"] not in ("CustomResourceDefinition", "ClusterRoleBinding")  # namespaced mode: none
    }
    dex = {key for key in wanted if key[1].startswith("argocd-dex-server")}
    assert len(dex) == 6, "Dex's objects upstream: SA, Role, RoleBinding, Service, Deployment, NetworkPolicy"
    assert set(argocd["objects"]) >= wanted - dex
    assert not set(argocd["objects"]) & dex, "Dex runs only with argocd_dex_enabled"


def test_namespaced_mode_binds_nothing_cluster_wide(argocd):
    """Review M2: upstream's ClusterRoleBindings let argocd-server, the application controller
    and the ApplicationSet controller read every Secret; the platform applies none of them."""
    assert not [key for key in argocd["objects"] if key[0] == "ClusterRoleBinding"]
    cluster = secret_data(argocd["objects"][("Secret", "in-cluster")])
    assert (
        argocd["objects"][("Secret", "in-cluster")]["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "cluster"
    )
    assert cluster == {"name": "in-cluster", "server": "https://kubernetes.default.svc", "namespaces": "task-api",
                       "clusterResources": "false"}  # fmt: skip
    for account in ("argocd-application-controller", "argocd-server"):
        binding = argocd["objects"][("RoleBinding", f"{account}-destination")]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": account}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]


def test_namespace_is_meshed_and_restricted(argocd):
    namespace = argocd["objects"][("Namespace", NAMESPACE)]
    assert namespace["metadata"]["annotations"] == {"linkerd.io/inject": "enabled"}
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "restricted"


def test_meshed_policies_follow_the_platform_rule(argocd):
    """docs/security.md "Meshed pods": 4143 beside upstream's app ports, same peers; proxy ports policy."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.mesh_policy import (
        proxy_ports_policy,
        rule_violations,
    )

    policies = {name: o for (kind, name), o in argocd["objects"].items() if kind == "NetworkPolicy"}
    assert [line for p in policies.values() for line in rule_violations(p)] == []
    redis = policies["argocd-redis-network-policy"]["spec"]["ingress"]
    assert [{p["port"] for p in rule["ports"]} for rule in redis] == [{6379, 4143}]
    assert len(redis[0]["from"]) == 3, "still only server, repo-server and controller"
    proxy = policies["argocd-linkerd-proxy"]
    assert proxy["spec"] == proxy_ports_policy(NAMESPACE)["spec"]


def test_no_initial_admin_secret_is_rendered(platform_render):
    names = {o["metadata"]["name"] for o in platform_render.objects.values()}
    assert "argocd-initial-admin-secret" not in names


def test_admin_password_is_a_bcrypt_hash_of_the_credential(platform_render, argocd):
    data = secret_data(argocd["objects"][("Secret", "argocd-secret")])
    password = credential(platform_render, "argocd/admin-password")
    salt = credential(platform_render, "argocd/admin-password-salt")
    assert len(password) >= 32 and len(salt) == 22
    digest = data["admin.password"]
    assert re.fullmatch(r"\$2[aby]\$12\$[./A-Za-z0-9]{53}", digest), digest
    assert digest[7:28] == salt[:21], "the salt is the credential's (the 22nd character carries 2 bits only)"
    assert bcrypt.verify(password, digest)
    assert not bcrypt.verify(password + "x", digest)


def test_admin_password_hash_is_identical_across_renders(platform_render):
    (path,) = [
        p
        for p in platform_render.first
        if p.parent == Path("argocd") and p.name.endswith("-secret-argocd-argocd-secret.yaml")
    ]
    second = yaml.safe_load((platform_render.dir / path).read_text())
    first = yaml.safe_load(platform_render.first[path])
    assert second["data"]["admin.password"] == first["data"]["admin.password"]
    assert second["data"]["admin.passwordMtime"] == first["data"]["admin.passwordMtime"]


def test_admin_password_mtime_is_recorded_once_for_this_hash(platform_render, argocd):
    data = secret_data(argocd["objects"][("Secret", "argocd-secret")])
    when, fingerprint = credential(platform_render, "argocd/admin-password-mtime").split()
    assert data["admin.passwordMtime"] == when
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", when), "RFC 3339, as Argo CD parses it"
    assert fingerprint == hashlib.sha256(data["admin.password"].encode()).hexdigest()


def test_argocd_secret_holds_the_generated_keys_and_keeps_upstream_labels(platform_render, argocd):
    secret = argocd["objects"][("Secret", "argocd-secret")]
    assert secret["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"
    data = secret_data(secret)
    assert set(data) == {"admin.password", "admin.passwordMtime", "server.secretkey", "oidc.keycloak.clientSecret",
                         "webhook.gogs.secret"}  # fmt: skip
    assert data["server.secretkey"] == credential(platform_render, "argocd/server-secretkey")
    assert data["oidc.keycloak.clientSecret"] == credential(platform_render, "keycloak/client-argocd")


def test_server_runs_plain_http_behind_traefik(argocd, platform_render):
    params = argocd["objects"][("ConfigMap", "argocd-cmd-params-cm")]
    assert params["data"]["server.insecure"] == "true"
    ingress = argocd["objects"][("Ingress", "argocd-server")]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == platform_render.domains["argocd"] == "argocd.local"
    assert ingress["spec"]["tls"] == [{"hosts": ["argocd.local"]}]
    assert ingress["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = argocd["objects"][("Service", backend["name"])]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
    assert port["targetPort"] == 8080, "argocd-server's plain HTTP port"


def test_sso_through_keycloak_trusting_the_local_ca(platform_render, argocd):
    data = argocd["objects"][("ConfigMap", "argocd-cm")]["data"]
    assert data["url"] == "https://argocd.local"
    assert data["admin.enabled"] == "true" and data["users.anonymous.enabled"] == "false"
    assert "resource.exclusions" in data, "upstream's argocd-cm keys are kept"
    oidc = yaml.safe_load(data["oidc.config"])
    assert oidc["issuer"] == "https://keycloak.local/realms/gauntlet"
    assert oidc["clientID"] == "argocd"
    assert oidc["clientSecret"] == "$oidc.keycloak.clientSecret"
    assert oidc["clientSecret"][1:] in argocd["objects"][("Secret", "argocd-secret")]["data"]
    assert {"openid", "groups"} <= set(oidc["requestedScopes"])
    assert oidc["rootCA"].strip() == (platform_render.credentials / "ca" / "ca.crt").read_text().strip()


def test_rbac_nothing_by_default_roles_by_group(argocd):
    data = argocd["objects"][("ConfigMap", "argocd-rbac-cm")]["data"]
    assert data["policy.default"] == ""
    assert data["policy.csv"] == "g, argocd-admins, role:admin\ng, argocd-viewers, role:readonly\n"
    assert json.loads(data["scopes"]) == ["groups"]


def test_every_container_has_requests_and_limits(argocd):
    workloads = [o for (k, _unused), o in argocd["objects"].items() if k in ("Deployment", "StatefulSet")]
    assert len(workloads) == 6
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        for container in [c for key in CONTAINER_KEYS for c in pod.get(key, [])]:
            resources = container.get("resources") or {}
            where = f"{workload['metadata']['name']}/{container['name']}"
            assert set(resources.get("requests", {})) == {"cpu", "memory"}, where
            assert set(resources.get("limits", {})) == {"cpu", "memory"}, where
            assert container["image"], where


def test_upstream_pods_are_otherwise_unchanged(argocd):
    """Only resources are added: images, commands and security contexts stay upstream's."""
    upstream = {(o["kind"], o["metadata"]["name"]): o for o in upstream_objects()}
    for key, obj in argocd["objects"].items():
        if key[0] not in ("Deployment", "StatefulSet"):
            continue
        ours, theirs = obj["spec"]["template"]["spec"], upstream[key]["spec"]["template"]["spec"]
        for field in CONTAINER_KEYS:
            strip = [{k: v for k, v in c.items() if k != "resources"} for c in ours.get(field, [])]
            assert strip == theirs.get(field, []), f"{key}: {field} changed beyond resources"


def test_repository_secret_points_at_the_gitops_contract(platform_render, argocd):
    secret = argocd["apps"][("Secret", "gitops-repository")]
    assert secret["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    data = secret_data(secret)
    assert data["url"] == REPO_URL
    assert data["type"] == "git" and data["username"] == "argocd"
    assert data["password"] == credential(platform_render, "gitea/argocd-password")


def test_application_syncs_task_api_automatically(argocd):
    app = argocd["apps"][("Application", "task-api")]
    spec = app["spec"]
    assert spec["source"] == {"repoURL": REPO_URL, "path": "task-api", "targetRevision": "HEAD"}
    assert spec["destination"] == {"server": "https://kubernetes.default.svc", "namespace": "task-api"}
    assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "CreateNamespace=false" in spec["syncPolicy"]["syncOptions"]
    assert spec["syncPolicy"]["retry"]["limit"] > 0
    # The path and namespace match what gitops/ holds; the Namespace itself is Ansible's
    # (tests/render/test_ownership_render.py).
    kustomization = yaml.safe_load((REPO / "gitops" / spec["source"]["path"] / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == spec["destination"]["namespace"]


def test_appproject_allows_only_the_gitops_repository_and_the_app_namespaces(argocd):
    app = argocd["apps"][("Application", "task-api")]
    project = argocd["apps"][("AppProject", app["spec"]["project"])]["spec"]
    assert project["sourceRepos"] == [REPO_URL]
    assert project["destinations"] == [{"namespace": "task-api", "server": "https://kubernetes.default.svc"}]
    assert project["clusterResourceWhitelist"] == []
    assert project["clusterResourceBlacklist"] == [{"group": "*", "kind": "*"}]


def _permitted(entries, group, kind):
    """Argo CD's matching of a whitelist entry: group and kind are globs ('*' matches all)."""
    return any(fnmatch.fnmatchcase(group, e["group"]) and fnmatch.fnmatchcase(kind, e["kind"]) for e in entries)


def test_appproject_permits_exactly_the_kinds_gitops_uses(argocd, render_tools):
    """Security review C2 / issue 18 item 2: a gitops commit may create only what the Task API needs.

    The whitelist is derived from the gitops tree as Argo CD builds it (kustomize); a kind added
    there without widening the project would fail to sync, and one allowed but unused is a grant
    nobody needs. No glob: each entry names one group and one kind.
    """
    app = argocd["apps"][("Application", "task-api")]
    project = argocd["apps"][("AppProject", app["spec"]["project"])]["spec"]
    used = {(o["apiVersion"].rpartition("/")[0], o["kind"]) for _unused, o in gitops_render.objects()}
    allowed = [(e["group"], e["kind"]) for e in project["namespaceResourceWhitelist"]]
    assert sorted(allowed) == sorted(used)
    assert len(allowed) == len(set(allowed))
    assert not any("*" in g or "*" in k for g, k in allowed)
    # What one commit could otherwise do (review C2): a privileged pod is refused by PodSecurity,
    # the rest by the project.
    for group, kind in [("", "Pod"), ("apps", "DaemonSet"), ("", "Secret"), ("", "Namespace"),
                        ("rbac.authorization.k8s.io", "ClusterRoleBinding"), ("traefik.io", "IngressRoute"),
                        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding")]:  # fmt: skip
        assert not _permitted(project["namespaceResourceWhitelist"], group, kind), f"{group}/{kind} is permitted"
    # Every object gitops/ holds goes to the app's own namespace, the project's only destination.
    assert {o["metadata"].get("namespace") for _unused, o in gitops_render.objects()} == {
        d["namespace"] for d in project["destinations"]
    }


# --- A second run with the role's switches flipped --------------------------------------

VARIANT = {
    # A site moves Argo CD in the contract (argocd_namespace follows it; validation refuses
    # argocd_namespace set apart from it).
    "gauntlet_namespaces": {**collection_defaults()["gauntlet_namespaces"], "argocd": "gitops-cd"},
    "argocd_dex_enabled": True,
    "argocd_oidc_enabled": False,
    "gauntlet_linkerd_enabled": False,
    "argocd_rbac_policy_extra": ["p, role:ci, applications, sync, */*, allow"],
    "argocd_applications": [{"name": "task-api", "path": "task-api", "namespace": "task-api", "revision": "main"}],
}


@pytest.fixture(scope="module")
def variant(platform_render, render_tools, tmp_path_factory):
    """Render --tags argocd with VARIANT and a rotated admin password (a copy of the credentials)."""
    work = tmp_path_factory.mktemp("argocd-variant")
    credentials = work / "credentials"
    shutil.copytree(platform_render.credentials, credentials)
    (credentials / "argocd" / "admin-password").write_text("RotatedPasswordForTheVariant2026\n")
    out = work / "render"
    extra = {
        **json.loads(platform_render.args[1]),
        "gauntlet_render_dir": str(out),
        "gauntlet_credentials_dir": str(credentials),
        **VARIANT,
    }
    result = render_tools.run_playbook(REPO / "playbooks/platform.yml", "--tags", "argocd", "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr
    objects = {p.relative_to(out): yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))}
    return {"objects": objects, "credentials": credentials}


def variant_objects(variant):
    return {(o["kind"], o["metadata"]["name"]): o for o in variant["objects"].values()}


def test_variant_validates_and_uses_its_namespace(variant, render_tools):
    for path, obj in variant["objects"].items():
        render_tools.validate_object(obj)
        if obj["kind"] not in CLUSTER_KINDS and not obj["metadata"]["name"].endswith("-destination"):
            assert obj["metadata"]["namespace"] == "gitops-cd", path
    objects = variant_objects(variant)
    for binding in (o for (k, name), o in objects.items() if k == "RoleBinding" and name.endswith("-destination")):
        assert all(s["namespace"] == "gitops-cd" for s in binding["subjects"])


def test_variant_runs_dex_with_resources_and_no_mesh(variant):
    objects = variant_objects(variant)
    dex = objects[("Deployment", "argocd-dex-server")]["spec"]["template"]["spec"]
    assert dex["initContainers"][0]["resources"]["limits"]["memory"] == "128Mi"
    assert dex["containers"][0]["resources"]["requests"]["cpu"] == "10m"
    namespace = objects[("Namespace", "gitops-cd")]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "annotations" not in namespace["metadata"]
    assert ("NetworkPolicy", "argocd-linkerd-proxy") not in objects


def test_variant_without_sso(variant):
    objects = variant_objects(variant)
    assert "oidc.config" not in objects[("ConfigMap", "argocd-cm")]["data"]
    assert "oidc.keycloak.clientSecret" not in objects[("Secret", "argocd-secret")]["data"]
    assert objects[("ConfigMap", "argocd-rbac-cm")]["data"]["policy.csv"] == (
        "g, argocd-admins, role:admin\ng, argocd-viewers, role:readonly\np, role:ci, applications, sync, */*, allow\n"
    )
    assert objects[("Application", "task-api")]["spec"]["source"]["targetRevision"] == "main"


def test_rotated_password_gets_a_new_hash_and_a_new_mtime(platform_render, argocd, variant):
    before = secret_data(argocd["objects"][("Secret", "argocd-secret")])
    after = secret_data(variant_objects(variant)[("Secret", "argocd-secret")])
    assert after["admin.password"] != before["admin.password"]
    assert bcrypt.verify("RotatedPasswordForTheVariant2026", after["admin.password"])
    assert after["admin.password"][7:28] == before["admin.password"][7:28], "same salt credential"
    when, fingerprint = (variant["credentials"] / "argocd" / "admin-password-mtime").read_text().split()
    assert fingerprint == hashlib.sha256(after["admin.password"].encode()).hexdigest()
    assert after["admin.passwordMtime"] == when >= before["admin.passwordMtime"]


def test_a_renamed_upstream_container_stops_the_run(platform_render, render_tools, tmp_path):
    extra = {
        **json.loads(platform_render.args[1]),
        "gauntlet_render_dir": str(tmp_path / "render"),
        "argocd_resources": {"argocd-server": {"argocd-srv": {"limits": {"memory": "1Gi"}}}},
    }
    result = render_tools.run_playbook(
        REPO / "playbooks/platform.yml", "--tags", "argocd_install", "-e", json.dumps(extra)
    )
    assert result.returncode != 0
    assert "Deployment argocd-server.spec.template.spec.containers has no item named 'argocd-srv'" in result.stdout
    assert not (tmp_path / "render" / "argocd").exists(), "nothing is rendered from a failed overlay"


REPORT_PLAYBOOK = """---
- name: Render the Applications report of the verify step
  hosts: localhost
  gather_facts: false
  vars_files: [{roles}/argocd/defaults/main.yml, {roles}/argocd/vars/main.yml]
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Write it
      ansible.builtin.copy:
        content: "{{{{ lookup('ansible.builtin.template', '{roles}/argocd/templates/application-report.j2') }}}}"
        dest: "{{{{ dest }}}}"
        mode: "0600"
"""


def test_verify_failure_report_names_each_cause(render_tools, tmp_path):
    playbook = tmp_path / "report.yml"
    playbook.write_text(REPORT_PLAYBOOK.format(roles=REPO / "roles"))
    seen = [
        {
            "metadata": {"name": "task-api"},
            "status": {
                "sync": {"status": "OutOfSync"},
                "health": {"status": "Degraded", "message": "Deployment has 0 ready replicas"},
                "conditions": [{"type": "ComparisonError", "message": "authentication required"}],
                "operationState": {"phase": "Failed", "message": "one or more objects failed to apply"},
                "resources": [
                    {"kind": "Service", "namespace": "task-api", "name": "task-api", "status": "Synced",
                     "health": {"status": "Healthy"}},
                    {"kind": "Deployment", "namespace": "task-api", "name": "task-api", "status": "Synced",
                     "health": {"status": "Degraded", "message": "ImagePullBackOff"}},
                ],
            },
        }
    ]  # fmt: skip
    extra = {
        "dest": str(tmp_path / "report.txt"),
        "__argocd_apps_seen": seen,
        "argocd_applications": [{"name": "task-api", "path": "task-api", "namespace": "task-api"},
                                {"name": "other", "path": "other", "namespace": "other"}],
    }  # fmt: skip
    result = render_tools.run_playbook(playbook, "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "report.txt").read_text()
    assert "- task-api: sync OutOfSync, health Degraded: Deployment has 0 ready replicas" in report
    assert "condition ComparisonError: authentication required" in report
    assert "last sync Failed: one or more objects failed to apply" in report
    assert "Deployment task-api/task-api: Synced, Degraded: ImagePullBackOff" in report
    assert "Service task-api/task-api" not in report, "healthy resources are not listed"
    assert "- other: no Application other in namespace argocd" in report


# --- Gitea's push notices (issue 15 item 5) ---------------------------------------------------
def _gitea_root_url(platform_render) -> str:
    import configparser

    (config,) = [o for p, o in platform_render.objects.items()
                 if p.parts[0] == "gitea" and o["kind"] == "Secret" and o["metadata"]["name"] == "gitea-config"]  # fmt: skip
    parser = configparser.ConfigParser(interpolation=None)
    # app.ini starts with keys outside any section (APP_NAME, RUN_USER...).
    parser.read_string("[__global__]\n" + base64.b64decode(config["data"]["app.ini"]).decode())
    return parser["server"]["ROOT_URL"]


def _gitea_push(secret: str, root_url: str, branch="main") -> tuple[dict, bytes]:
    """A push notice for gitops as Gitea signs it (the Gitea double's push_delivery)."""
    sys.path.insert(0, str(REPO / "tests" / "unit" / "plugins"))
    from service_doubles import GiteaDouble

    gitea = GiteaDouble("root", "root-password-0123456789")
    try:
        gitea.root_url = root_url
        gitea.repos[("gauntlet", "gitops")] = {"default_branch": "main", "collaborators": {}}
        gitea.hooks[("gauntlet", "gitops")] = {1: {"type": "gitea", "url": "http://argocd-server.argocd.svc/api/webhook",
                                                   "content_type": "json", "secret": secret, "events": ["push"],
                                                   "branch_filter": "", "active": True}}  # fmt: skip
        ((_unused, headers, body),) = gitea.push_delivery("gauntlet", "gitops", branch, "c" * 40, ["task-api/x.yaml"])
    finally:
        gitea.close()
    return headers, body


def test_webhook_secret_is_the_credential_gitea_signs_with(platform_render, argocd):
    data = secret_data(argocd["objects"][("Secret", "argocd-secret")])
    path = platform_render.credentials / "argocd/gitea-webhook-secret"
    assert data["webhook.gogs.secret"] == credential(platform_render, "argocd/gitea-webhook-secret")
    assert len(data["webhook.gogs.secret"]) >= 32 and path.stat().st_mode & 0o777 == 0o600


def test_a_gitea_push_of_gitops_refreshes_the_application_only_when_signed(platform_render, argocd):
    """Argo CD's decision (tests/argocd_webhook.py, argo-cd v3.5.1) on what Gitea sends, with
    the rendered argocd-secret, Gitea's rendered ROOT_URL and the rendered Applications."""
    secret = secret_data(argocd["objects"][("Secret", "argocd-secret")])["webhook.gogs.secret"]
    apps = [o for o in argocd["app_list"] if o["kind"] == "Application"]
    root_url = _gitea_root_url(platform_render)
    headers, body = _gitea_push(secret, root_url)
    payload = argocd_webhook.parse("POST", "/api/webhook", headers, body, secret)
    assert argocd_webhook.refreshed(payload, apps) == ["task-api"]
    # Signed with anything else: refused (401), nothing refreshed.
    forged_headers, forged_body = _gitea_push("not-the-secret", root_url)
    with pytest.raises(argocd_webhook.Refused) as refused:
        argocd_webhook.parse("POST", "/api/webhook", forged_headers, forged_body, secret)
    assert refused.value.status == 401
    # The in-cluster URL the Applications used before would never match Gitea's html_url.
    in_cluster = [{**a, "spec": {**a["spec"], "source": {**a["spec"]["source"],
                   "repoURL": "http://gitea-http.gitea.svc:3000/gauntlet/gitops.git"}}} for a in apps]  # fmt: skip
    assert argocd_webhook.refreshed(payload, in_cluster) == []


def test_repo_server_trusts_the_local_ca_for_the_gitops_host(platform_render, argocd):
    certs = argocd["objects"][("ConfigMap", "argocd-tls-certs-cm")]["data"]
    assert list(certs) == ["gitea.local"]
    assert certs["gitea.local"].strip() == (platform_render.credentials / "ca/ca.crt").read_text().strip()
