"""Who can read Secrets, computed from every RBAC object the platform renders (review M2).

The evaluator (rbac.py) resolves bindings, aggregated roles and built-in roles; this test
holds the allow-list: every subject that may get/list/watch Secrets, where, and why. A
component that reads Secrets in every namespace can read the Linkerd issuer key
(kube-system/linkerd-identity-issuer), the `*.local` key (kube-system/gauntlet-default-tls)
and every database password, so nothing is allowed cluster-wide.

The charts k3s's helm-controller installs are rendered too, with helm (the control-plane
tier's build, scripts/setup, or one on PATH): the Linkerd control plane and linkerd-viz
from the HelmCharts' chartContent with their values, and k3s's Traefik chart
(../shared/upstream/traefik-helm-chart/v40.1.0) with the traefik role's HelmChartConfig
values; their RBAC joins the platform's in the same evaluator (CHART_ALLOWED). Limit: k3s's
own HelmChart kube-system/traefik adds values below the HelmChartConfig (image, priority
class, tolerations); no copy of it is at hand, the chart's defaults stand in for it.
"""

import shutil
import subprocess
from functools import partial

import controlplane
import playbook_runs
import pytest
import yaml
from helm_controller_double import chart_values, rendered_secret, unpack_chart
from rbac import ALL, RBAC_KINDS, Subject, excess, secret_readers


def sa(namespace, name):
    return Subject("ServiceAccount", name, namespace)


# subject -> {namespace: ALL or Secret names}, each with its reason.
ALLOWED = {
    # Argo CD keeps its settings, repository and cluster credentials as Secrets in its own
    # namespace (upstream Roles); it syncs the Task API and shows its objects, so it may
    # read in the destination namespace too (RoleBindings the argocd role adds).
    sa("argocd", "argocd-application-controller"): {"argocd": ALL, "task-api": ALL},
    sa("argocd", "argocd-server"): {"argocd": ALL, "task-api": ALL},
    sa("argocd", "argocd-applicationset-controller"): {"argocd": ALL},
    sa("argocd", "argocd-notifications-controller"): {"argocd": ALL},
    sa("argocd", "argocd-redis"): {"argocd": frozenset({"argocd-redis"})},
    # The operator writes Prometheus' and Alertmanager's generated configuration Secrets
    # and reads the ones they reference, in the namespace they run in.
    sa("monitoring", "prometheus-operator"): {"monitoring": ALL},
    # CloudNativePG manages the Secrets of the Clusters it watches (WATCH_NAMESPACE) and
    # its webhook certificate in its own namespace.
    sa("cnpg-system", "cnpg-manager"): {"cnpg-system": ALL, "database": ALL},
}


def test_only_allowed_subjects_read_secrets(platform_render):
    readers = secret_readers(platform_render.objects.values())
    problems = excess(readers, ALLOWED)
    assert not problems, "Secret access beyond the allow-list:\n" + "\n".join(problems)


def test_nothing_reads_secrets_in_every_namespace(platform_render):
    readers = secret_readers(platform_render.objects.values())
    everywhere = sorted(str(subject) for subject, namespaces in readers.items() if ALL in namespaces)
    assert everywhere == [], f"these read every Secret of the cluster: {everywhere}"


# --- the charts helm-controller installs -------------------------------------------------------

TRAEFIK_CHART = "traefik-helm-chart/v40.1.0/traefik"
# linkerd-cni is not among them: its chart (linkerd2-cni) is not in the shared upstream folder
# (tests/upstream.py NOT_IN_SHARED), so the render packs a stand-in; docs/security.md says
# what its ClusterRole grants.
LINKERD_CHARTS = {
    "linkerd-control-plane": "linkerd/edge-26.8.3/charts/linkerd-control-plane",
    "linkerd-viz": "linkerd/edge-26.8.3/viz/charts/linkerd-viz",
}
TRAEFIK_PLAYBOOK = playbook_runs.role_play("traefik")
# Secret readers the charts bring, beyond ALLOWED; docs/security.md "Secret access" gives each
# its reason (upstream templates, not values, grant them).
CHART_ALLOWED = {
    # k3s's Traefik reads TLS Secrets of Ingresses and TLSStores and the basic-auth Secrets of
    # Middlewares, in whatever namespace they are (chart templates/rbac/clusterrole.yaml,
    # rbac.namespaced false: namespaced RBAC cannot serve IngressClass, which k3s uses).
    sa("kube-system", "traefik"): {ALL: ALL},
    # linkerd-destination: Role `remote-discovery` in the control plane's namespace (the
    # multicluster link credentials; templates/destination-rbac.yaml, unconditional). That
    # namespace also holds linkerd-identity-issuer.
    sa("linkerd", "linkerd-destination"): {"linkerd": ALL},
}


def _helm() -> str:
    return shutil.which("helm") or str(controlplane.binaries() / "bin" / "helm")


def _template(name, chart_dir, namespace, values, work, kube_version):
    args = []
    for index, text in enumerate(values):
        path = work / f"{name}-values-{index}.yaml"
        path.write_text(text)
        args += ["-f", str(path)]
    result = subprocess.run(
        [_helm(), "template", name, str(chart_dir), "-n", namespace, "--kube-version", kube_version, *args],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"helm template {name}: {result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _linkerd_objects(render, name, work, kube_version):
    (chart,) = [o for o in render.objects.values() if o["kind"] == "HelmChart" and o["metadata"]["name"] == name]
    chart_dir = unpack_chart(chart["spec"]["chartContent"], work / f"chart-{name}")
    values = chart_values(chart, partial(rendered_secret, render.objects.values()))
    return _template(name, chart_dir, chart["spec"]["targetNamespace"], values, work, kube_version)


@pytest.fixture(scope="module")
def chart_objects(platform_render, render_tools, tmp_path_factory):
    """Every object of the charts helm-controller installs, as helm renders them."""
    work = tmp_path_factory.mktemp("rbac-charts")
    for folder in (*LINKERD_CHARTS.values(), TRAEFIK_CHART):
        render_tools.upstream_path(folder + "/Chart.yaml")  # the real chart, or skip naming the gap
    objects = {}
    for name in LINKERD_CHARTS:
        objects[name] = _linkerd_objects(platform_render, name, work, render_tools.k8s_version)
    out = render_tools.render_play(tmp_path_factory.mktemp("traefik-role"), TRAEFIK_PLAYBOOK)
    (config,) = [
        doc
        for path in sorted(out.rglob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] == "HelmChartConfig"
    ]
    objects["traefik"] = _template(
        "traefik", render_tools.upstream_path(TRAEFIK_CHART), "kube-system",
        [config["spec"]["valuesContent"]], work, render_tools.k8s_version,
    )  # fmt: skip
    return objects


def test_the_charts_rbac_is_rendered(chart_objects):
    """The evaluator sees each chart's RBAC (a chart that renders none would hide nothing)."""
    for name in ("linkerd-control-plane", "linkerd-viz", "traefik"):
        kinds = {o["kind"] for o in chart_objects[name]}
        assert {"ClusterRole", "ClusterRoleBinding"} <= kinds, (name, kinds)


def test_only_allowed_subjects_read_secrets_with_the_charts(platform_render, chart_objects):
    objects = [*platform_render.objects.values(), *(o for docs in chart_objects.values() for o in docs)]
    readers = secret_readers(o for o in objects if o["kind"] in RBAC_KINDS)
    problems = excess(readers, {**ALLOWED, **CHART_ALLOWED})
    assert not problems, "Secret access beyond the allow-list:\n" + "\n".join(problems)
    # Every exception of CHART_ALLOWED is still needed (an upstream change that drops one
    # shows here, and the exception goes).
    for subject in CHART_ALLOWED:
        assert subject in readers, f"{subject} no longer reads Secrets: remove its exception"
    everywhere = sorted(str(s) for s, namespaces in readers.items() if ALL in namespaces)
    assert everywhere == ["ServiceAccount kube-system/traefik"], everywhere
