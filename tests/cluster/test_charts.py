"""The platform's charts rendered by helm and applied to the real API server (issue 13 item 4).

What helm-controller does on k3s, done here with the helm v4 and the kube-apiserver v1.36.x the
control-plane tier builds: each HelmChart the platform render writes (its chartContent, the
chart archive the bundle packs, and exactly its valuesContent and valuesSecrets) and k3s's
Traefik chart (../shared/upstream/traefik-helm-chart/v40.1.0, VERSIONS.md §12) with exactly the
traefik role's HelmChartConfig valuesContent are rendered with `helm template`, which validates
the merged values against the chart's values.schema.json when the chart has one (Traefik's; the
Linkerd charts carry none). Then the real API server gets the objects: CustomResourceDefinitions
and the platform's rendered Namespace objects (with their PodSecurity labels) for real, first;
ServiceAccounts for real (the ServiceAccount admission plugin refuses a pod whose account does
not exist); every other object by server-side apply with dryRun=All (schema, defaulting, CRD
validation and admission, nothing stored, no webhook registered); and a Pod made of every
workload's pod template, dry-run too, so that PodSecurity admission *enforces* the namespace's
level (on Deployments and DaemonSets it only warns).

The values are never written twice: they are read from the render (tests/render/conftest.py's
platform render, shared with the render tier through tests/session_cache.py, and the traefik
role's render). The control plane is this module's own (module-scoped), so the CRDs and
Namespaces it installs for real do not meet the apply-mode tests' cluster.

Limits: k3s's own HelmChart kube-system/traefik adds its valuesContent (image, priority class,
tolerations) below the HelmChartConfig; there is no copy of v1.36.4's manifest in the upstream
folder, so the chart's defaults stand in for it. The linkerd2-cni chart is not in the shared
upstream folder (tests/upstream.py NOT_IN_SHARED): its test skips naming the gap.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

import playbook_runs
import pytest
import upstream
import yaml
from controlplane import REPO, ControlPlane, binaries, error_message, require_netns, running
from helm_controller_double import chart_values, rendered_secret, set_args, unpack_chart

pytestmark = pytest.mark.controlplane

FIELD_MANAGER = "gauntlet-chart-tests"
TRAEFIK_CHART = "traefik-helm-chart/v40.1.0/traefik"
LINKERD = "linkerd/edge-26.8.3"
# HelmChart name -> the chart folder it packs (roles/linkerd/tasks/*.yml, chart_content lookups).
LINKERD_CHARTS = {
    "linkerd-crds": f"{LINKERD}/charts/linkerd-crds",
    "linkerd-control-plane": f"{LINKERD}/charts/linkerd-control-plane",
    "linkerd-viz": f"{LINKERD}/viz/charts/linkerd-viz",
    "linkerd-cni": f"{LINKERD}/charts/linkerd2-cni",
}
TRAEFIK_PLAYBOOK = playbook_runs.role_play("traefik")
# Kinds whose spec holds a pod template (PodSecurity enforces on the Pod only).
POD_TEMPLATES = {
    "Deployment": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def render_module():
    """tests/render/conftest.py as a module: its fixtures are scoped to tests/render, its
    functions are not (render_platform keeps one render per session, tests/session_cache.py)."""
    name = "gauntlet_render_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "render" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    """A control plane of this module's own (no simulated node: no pod has to run)."""
    require_netns()
    upstream.require()
    folder = binaries()
    control = ControlPlane(folder, tmp_path_factory.mktemp("charts-plane"), name=f"gauntlet-charts-{os.getpid()}")
    with running(control) as started:
        yield started


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """The platform render of the render tier (one per session; its first run is enough here)."""
    return render_module().render_platform(tmp_path_factory, rerun=False)


@pytest.fixture(scope="module")
def traefik_config(tmp_path_factory):
    """The HelmChartConfig kube-system/traefik the traefik role renders."""
    out = render_module().render_play(tmp_path_factory.mktemp("traefik-role"), TRAEFIK_PLAYBOOK)
    found = [
        doc
        for path in sorted(out.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "HelmChartConfig"
    ]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in found] == [("kube-system", "traefik")]
    return found[0]


class Cluster:
    """The plane with the platform's Namespaces and the CRDs applied; renders and applies charts."""

    def __init__(self, plane: ControlPlane, work: Path, platform):
        self.plane = plane
        self.work = work
        self.platform = platform
        self.helm = str(plane.bin / "helm")
        self.env = dict(
            os.environ,
            HELM_CACHE_HOME=str(work / "helm-cache"),
            HELM_CONFIG_HOME=str(work / "helm-config"),
            HELM_DATA_HOME=str(work / "helm-data"),
        )
        self._resources: dict[tuple[str, str], object] = {}
        self.kube_version = json.loads(plane.get("/version"))["gitVersion"]
        self.counts: dict[str, dict[str, int]] = {}

    # the API server

    def resource(self, api_version: str, kind: str):
        key = (api_version, kind)
        if key not in self._resources:
            self._resources[key] = self.plane.resource(api_version, kind)
        return self._resources[key]

    def apply(self, obj: dict, namespace: str | None, *, dry_run: bool):
        """Server-side apply of ``obj``; the API server's answer (a dict) or its refusal (a str)."""
        from kubernetes.client.rest import ApiException
        from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

        try:
            resource = self.resource(obj["apiVersion"], obj["kind"])
        except ResourceNotFoundError as error:
            return f"the API server serves no {obj['apiVersion']} {obj['kind']}: {error}"
        ns = (obj["metadata"].get("namespace") or namespace) if resource.resource.namespaced else None
        kwargs = {"field_manager": FIELD_MANAGER, "force_conflicts": True}
        if dry_run:
            kwargs["dry_run"] = "All"
        try:
            return resource.server_side_apply(body=obj, namespace=ns, **kwargs).to_dict()
        except (ApiException, DynamicApiError) as error:
            return f"{error.status}: {error_message(error)}"

    def api_versions(self) -> list[str]:
        """What helm's Capabilities.APIVersions holds on a real install: every served group/version
        and group/version/Kind (helm pkg/action GetVersionSet), read from discovery."""
        found = []
        groups = [("", "v1")] + [
            (g["name"], v["version"]) for g in json.loads(self.plane.get("/apis"))["groups"] for v in g["versions"]
        ]
        for group, version in groups:
            gv = f"{group}/{version}" if group else version
            path = f"/apis/{gv}" if group else "/api/v1"
            found.append(gv)
            found += sorted({f"{gv}/{r['kind']}" for r in json.loads(self.plane.get(path))["resources"]})
        return found

    def install_crds(self, crds: list[dict]) -> None:
        """CRDs for real, then wait until each is Established (its kind is served)."""
        refused = {c["metadata"]["name"]: r for c in crds if isinstance(r := self.apply(c, None, dry_run=False), str)}
        assert refused == {}, f"the API server refused CRDs: {refused}"
        crd_api = self.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        deadline = time.monotonic() + 60
        for crd in crds:
            while True:
                status = crd_api.get(name=crd["metadata"]["name"]).to_dict().get("status") or {}
                if any(c["type"] == "Established" and c["status"] == "True" for c in status.get("conditions") or []):
                    break
                assert time.monotonic() < deadline, f"CRD {crd['metadata']['name']} not Established: {status}"
                time.sleep(0.5)
        self._resources.clear()  # discovery changed

    # helm

    def template(self, release: str, chart: Path, namespace: str, values: list[str], extra=()) -> list[dict]:
        """`helm template` of ``chart`` with the values documents in order (later ones win)."""
        folder = self.work / f"values-{release}"
        folder.mkdir(exist_ok=True)
        args = []
        for index, text in enumerate(values):
            path = folder / f"{index:02d}.yaml"
            path.write_text(text)
            args += ["--values", str(path)]
        result = self.plane.run(
            self.helm, "template", release, str(chart), "--namespace", namespace,
            "--kube-version", self.kube_version, "--api-versions", ",".join(self.api_versions()),
            *args, *extra, env=self.env, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"helm template {release}: {result.stderr}"
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def apply_release(self, release: str, objects: list[dict], namespace: str) -> list[str]:
        """Every object of a rendered release, to the API server: CRDs and ServiceAccounts for
        real, the rest as a server-side dry run, plus one dry-run Pod per pod template. Returns
        the refusals, one line each."""
        refusals = []
        crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        if crds:
            self.install_crds(crds)
        counts = {"objects": len(objects), "crds": len(crds), "dry_run": 0, "pods": 0}
        for obj in objects:
            if obj["kind"] == "CustomResourceDefinition":
                continue
            real = obj["kind"] == "ServiceAccount"
            answer = self.apply(obj, namespace, dry_run=not real)
            counts["dry_run"] += not real
            where = f"{obj['kind']} {obj['metadata'].get('namespace') or namespace}/{obj['metadata']['name']}"
            if isinstance(answer, str):
                refusals.append(f"{where}: {answer}")
            elif answer["metadata"].get("name") != obj["metadata"]["name"] or not answer["metadata"].get("uid"):
                refusals.append(f"{where}: the API server answered {answer['metadata']}")
        for obj in objects:
            path = POD_TEMPLATES.get(obj["kind"])
            if not path:
                continue
            template = obj
            for key in path:
                template = template[key]
            ns = obj["metadata"].get("namespace") or namespace
            self.wait_default_account(ns)
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {**template.get("metadata", {}), "name": f"{obj['metadata']['name']}-podsecurity"[:63]},
                "spec": template["spec"],
            }
            answer = self.apply(pod, ns, dry_run=True)
            counts["pods"] += 1
            if isinstance(answer, str):
                refusals.append(f"Pod of {obj['kind']} {ns}/{obj['metadata']['name']}: {answer}")
        self.counts[release] = counts
        return refusals

    def wait_default_account(self, namespace: str) -> None:
        """The controller manager's serviceaccount controller makes `default` in a new namespace."""
        from kubernetes.dynamic.exceptions import NotFoundError

        accounts = self.resource("v1", "ServiceAccount")
        deadline = time.monotonic() + 60
        while True:
            try:
                accounts.get(name="default", namespace=namespace)
                return
            except NotFoundError:
                assert time.monotonic() < deadline, f"no ServiceAccount {namespace}/default after 60 s"
                time.sleep(0.5)


def objects_of(platform, kind: str) -> list[dict]:
    return [o for o in platform.objects.values() if o["kind"] == kind]


def helm_chart(platform, name: str) -> dict:
    found = [o for o in objects_of(platform, "HelmChart") if o["metadata"]["name"] == name]
    assert len(found) == 1, f"HelmChart {name}: found {len(found)}"
    return found[0]


def unpack(chart: dict, folder: Path) -> Path:
    """The chart archive of a HelmChart's chartContent, unpacked (regular files only)."""
    return unpack_chart(chart["spec"]["chartContent"], folder)


@pytest.fixture(scope="module")
def cluster(plane, platform, tmp_path_factory):
    """The plane with what comes before the charts: the platform's Namespaces, and the CRDs of
    k3s's traefik-crd release (the Traefik chart's crds/ folder, as k3s v1.36.4 packs it,
    VERSIONS.md §12), both for real."""
    work = tmp_path_factory.mktemp("charts")
    state = Cluster(plane, work, platform)
    namespaces = objects_of(platform, "Namespace")
    assert namespaces, "the platform render has no Namespace"
    refused = {
        n["metadata"]["name"]: a for n in namespaces if isinstance(a := state.apply(n, None, dry_run=False), str)
    }
    assert refused == {}, f"the API server refused the platform's Namespaces: {refused}"
    crds = [
        doc
        for path in sorted(upstream.path(TRAEFIK_CHART + "/crds").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    state.install_crds(crds)
    state.counts["traefik-crd"] = {"objects": len(crds), "crds": len(crds), "dry_run": 0, "pods": 0}
    return state


def test_every_helmchart_of_the_platform_is_rendered_here(platform):
    """A HelmChart added to the platform gets a test here (the list below), or this fails."""
    assert {o["metadata"]["name"] for o in objects_of(platform, "HelmChart")} == set(LINKERD_CHARTS)


# --- helm itself ----------------------------------------------------------------------------------


def traefik_values(traefik_config) -> str:
    return traefik_config["spec"]["valuesContent"]


def test_helm_refuses_values_the_traefik_schema_refuses(cluster, traefik_config):
    """The check below can fail: helm validates the merged values against values.schema.json
    (the v40.1.0 schema closes ports.<entrypoint>: additionalProperties false)."""
    chart = upstream.path(TRAEFIK_CHART)
    assert (chart / "values.schema.json").is_file()
    wrong = yaml.safe_dump({"ports": {"web": {"redirectTo": {"port": "websecure"}}}})
    folder = cluster.work / "wrong"
    folder.mkdir(exist_ok=True)
    (folder / "a.yaml").write_text(traefik_values(traefik_config))
    (folder / "b.yaml").write_text(wrong)
    result = cluster.plane.run(
        cluster.helm, "template", "traefik", str(chart), "--namespace", "kube-system",
        "--values", str(folder / "a.yaml"), "--values", str(folder / "b.yaml"), env=cluster.env,
    )  # fmt: skip
    assert result.returncode != 0
    assert "schema" in result.stderr and "redirectTo" in result.stderr, result.stderr


# --- the charts -----------------------------------------------------------------------------------


def test_traefik_chart_with_the_role_values_is_accepted(cluster, traefik_config):
    """k3s's traefik release (crds skipped: the traefik-crd release has them) with the
    HelmChartConfig's values: helm's schema check passes, the API server accepts every object."""
    chart = upstream.path(TRAEFIK_CHART)
    values = traefik_values(traefik_config)
    objects = cluster.template("traefik", chart, "kube-system", [values], ["--skip-crds"])
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "TLSOption", "TLSStore"} <= kinds, kinds
    # The role's values reach the objects: the default TLSStore names the role's Secret.
    (store,) = [o for o in objects if o["kind"] == "TLSStore"]
    assert store["metadata"]["name"] == "default"
    assert (
        store["spec"]["defaultCertificate"]["secretName"]
        == yaml.safe_load(values)["tlsStore"]["default"]["defaultCertificate"]["secretName"]
    )
    refusals = cluster.apply_release("traefik", objects, "kube-system")
    assert refusals == [], "\n".join(refusals)
    print(f"traefik: {cluster.counts['traefik']}")


def linkerd_release(cluster, name: str):
    """The HelmChart ``name`` of the platform render, rendered by helm from its chartContent."""
    upstream.path(LINKERD_CHARTS[name] + "/Chart.yaml")  # the real chart (or skip naming the gap)
    chart = helm_chart(cluster.platform, name)
    assert not chart["spec"].get("chart"), "offline: chartContent only"
    folder = unpack(chart, cluster.work / f"chart-{name}")
    namespace = chart["spec"]["targetNamespace"]
    objects = cluster.template(
        name,
        folder,
        namespace,
        chart_values(chart, partial(rendered_secret, cluster.platform.objects.values())),
        set_args(chart["spec"]),
    )
    return namespace, objects


@pytest.fixture(scope="module")
def linkerd_crds(cluster):
    """The linkerd-crds release applied for real (its CRDs are templates, not crds/)."""
    namespace, objects = linkerd_release(cluster, "linkerd-crds")
    refusals = cluster.apply_release("linkerd-crds", objects, namespace)
    return objects, refusals


def test_linkerd_crds_chart_is_accepted(cluster, linkerd_crds):
    objects, refusals = linkerd_crds
    assert refusals == [], "\n".join(refusals)
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"}
    # The policy CRDs the mesh policies of the platform are custom resources of.
    assert {"servers.policy.linkerd.io", "authorizationpolicies.policy.linkerd.io"} <= names, names
    print(f"linkerd-crds: {cluster.counts['linkerd-crds']}")


@pytest.mark.parametrize("name", ["linkerd-control-plane", "linkerd-viz", "linkerd-cni"])
def test_linkerd_chart_is_accepted(cluster, linkerd_crds, name):
    """Every object of the release, and the pod of every workload in its namespace's PodSecurity level."""
    namespace, objects = linkerd_release(cluster, name)
    assert any(o["kind"] in POD_TEMPLATES for o in objects), f"{name}: helm rendered no workload"
    refusals = cluster.apply_release(name, objects, namespace)
    assert refusals == [], "\n".join(refusals)
    print(f"{name}: {cluster.counts[name]}")


# --- the checks above can fail --------------------------------------------------------------------


def test_the_api_server_refuses_what_the_namespace_or_the_crd_refuses(cluster, linkerd_crds):
    """Controls for the checks above, on the same rendered objects: a linkerd pod on the host's
    network is refused by PodSecurity `restricted` (enforced on the Pod; its Deployment is only
    warned about), and a field the Server CRD does not declare is refused by the CRD's schema."""
    namespace, objects = linkerd_release(cluster, "linkerd-control-plane")
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "linkerd-destination"]
    deployment["spec"]["template"]["spec"]["hostNetwork"] = True
    refusals = cluster.apply_release("host-network-control", [deployment], namespace)
    assert len(refusals) == 1 and refusals[0].startswith("Pod of Deployment linkerd/linkerd-destination"), refusals
    assert 'violates PodSecurity "restricted:latest"' in refusals[0] and "hostNetwork" in refusals[0], refusals
    _unused, viz = linkerd_release(cluster, "linkerd-viz")
    server = next(o for o in viz if o["kind"] == "Server")
    server["spec"]["notAField"] = True
    answer = cluster.apply(server, "linkerd-viz", dry_run=True)
    assert isinstance(answer, str) and "notAField" in answer, answer
