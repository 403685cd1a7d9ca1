"""One owner per object: nothing the platform's Ansible roles apply is also in gitops/.

Two appliers of one object strip each other's fields: kubernetes.core's client-side apply
removes what is not in its last-applied-configuration (Argo CD's tracking annotation), Argo
CD self-heals it back, and a rerun of site.yml is never `changed=0` (review W6). The rule is
in docs/platform.md ("One owner per object").

Ansible's side is what playbooks/platform.yml renders (shared `platform_render` fixture);
gitops' side is every kustomization under gitops/, built (gitops_render).
"""

import json

import gitops_render
import pytest


def identity(obj):
    """(API group, kind, namespace, name); the version does not matter to ownership."""
    api_version = obj["apiVersion"]
    group = api_version.split("/")[0] if "/" in api_version else ""
    return group, obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


@pytest.fixture(scope="module")
def gitops_objects():
    """{identity: 'gitops/<app>'} of every object the gitops repository holds."""
    return {identity(obj): f"gitops/{app}" for app, obj in gitops_render.objects()}


@pytest.fixture(scope="module")
def gitops_documents():
    """The objects themselves, as Argo CD applies them."""
    return [obj for _unused, obj in gitops_render.objects()]


@pytest.fixture(scope="module")
def ansible_objects(platform_render):
    """{identity: render file} of every object playbooks/platform.yml applies."""
    return {identity(obj): str(path) for path, obj in platform_render.objects.items()}


def test_no_object_is_applied_by_both_ansible_and_argo_cd(ansible_objects, gitops_objects):
    both = sorted(set(ansible_objects) & set(gitops_objects))
    assert not both, "applied by Ansible and by Argo CD (one owner per object, docs/platform.md): " + "; ".join(
        f"{kind} {namespace + '/' if namespace else ''}{name} (group {group or 'core'}) in {ansible_objects[key]} "
        f"and {gitops_objects[key]}"
        for key in both
        for group, kind, namespace, name in [key]
    )


def test_gitops_holds_no_cluster_scoped_object(gitops_objects):
    # kustomize sets `namespace` on every namespaced kind it knows; what stays without one is
    # cluster-scoped, which the AppProject does not allow (security review C2).
    cluster_scoped = sorted(key for key in gitops_objects if not key[2])
    assert not cluster_scoped, f"cluster-scoped objects in gitops/: {cluster_scoped}"


def _apps(platform_render):
    return {
        (o["kind"], o["metadata"]["name"]): o
        for p, o in platform_render.objects.items()
        if p.parts[0] == "argocd-apps" and o["kind"] in ("Application", "AppProject")
    }


def test_argo_cd_may_not_create_or_adopt_namespaces(platform_render):
    """No cluster-scoped kind in the AppProject, and Applications never create their namespace.

    Argo CD v3 AppProject.IsGroupKindPermitted (pkg/apis/application/v1alpha1/app_project_types.go):
    a cluster-scoped kind is permitted when it is in clusterResourceWhitelist and not in
    clusterResourceBlacklist; older releases read an empty whitelist as "everything", so the
    blacklist `*/*` is what denies them under either reading.
    """
    apps = _apps(platform_render)
    projects = [o for (kind, _unused), o in apps.items() if kind == "AppProject"]
    assert projects
    for project in projects:
        spec = project["spec"]
        assert not spec.get("clusterResourceWhitelist"), f"AppProject {project['metadata']['name']}: {spec}"
        assert {"group": "*", "kind": "*"} in spec.get("clusterResourceBlacklist", []), spec
    for (kind, name), app in apps.items():
        if kind == "Application":
            options = app["spec"]["syncPolicy"].get("syncOptions", [])
            assert "CreateNamespace=false" in options, f"Application {name}: {options}"


def test_every_application_namespace_is_created_by_ansible(platform_render, ansible_objects):
    namespaces = {name for group, kind, _unused, name in ansible_objects if kind == "Namespace"}
    for (kind, name), app in _apps(platform_render).items():
        if kind == "Application":
            destination = app["spec"]["destination"]["namespace"]
            assert destination in namespaces, f"Application {name}: namespace {destination} is created by nobody"


def test_application_namespaces_admit_the_application_pods(platform_render, gitops_documents):
    """The namespace Ansible creates for an app admits the app's pods (PodSecurity) as gitops expects."""
    namespaces = {o["metadata"]["name"]: o for o in platform_render.objects.values() if o["kind"] == "Namespace"}
    for (kind, _unused), app in _apps(platform_render).items():
        if kind != "Application":
            continue
        namespace = namespaces[app["spec"]["destination"]["namespace"]]
        labels = namespace["metadata"]["labels"]
        # The Task API's pods are Linkerd-injected (their own annotation); with Linkerd's CNI
        # plugin meshed pods pass `restricted`, so the namespace enforces it (docs/security.md).
        injected = any(
            (o.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}).get(
                "linkerd.io/inject"
            )
            == "enabled"
            for o in gitops_documents
            if o["metadata"].get("namespace") == namespace["metadata"]["name"]
        )
        if injected:
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted", json.dumps(labels)
        assert labels["app.kubernetes.io/managed-by"] == "gauntlet"
