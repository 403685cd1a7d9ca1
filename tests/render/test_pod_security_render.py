"""Which namespaces enforce which PodSecurity level, and whether their pods would be admitted.

Issue 18 item 5 and security review M1/C2: every Namespace the platform creates enforces the
strictest level its workloads allow; each exemption is justified in docs/security.md
("PodSecurity by namespace"). Linkerd runs with its CNI plugin, so meshed namespaces enforce
`restricted` (the proxy-init container with NET_ADMIN/NET_RAW is gone).

The pods checked here are every workload the platform render writes (roles' own and the
upstream manifests it applies), the gitops/task-api objects Argo CD syncs, and, when a helm
binary is at hand, the pods of the Linkerd charts helm-controller installs.
"""

import base64
import io
import shutil
import subprocess
import tarfile

import controlplane
import gitops_render
import pytest
import yaml
from pod_security import pod_spec_of, violations

LEVEL = "pod-security.kubernetes.io/enforce"
# The one table of this test: namespace -> the level it must enforce. Anything but
# `restricted` has its reason in docs/security.md, section "PodSecurity by namespace".
EXPECTED = {
    "argocd": "restricted",
    "cnpg-system": "restricted",
    "database": "restricted",
    "drone": "restricted",
    # Pipeline steps run arbitrary build images, often as root (kaniko must).
    "drone-builds": "baseline",
    "gitea": "restricted",
    "keycloak": "restricted",
    "linkerd": "restricted",
    # The linkerd-cni DaemonSet writes the CNI binary and config to the node (hostPath).
    "linkerd-cni": "privileged",
    "linkerd-viz": "restricted",
    "monitoring": "restricted",
    # node-exporter alone: hostNetwork, hostPID and hostPath / (kube-prometheus).
    "node-exporter": "privileged",
    "task-api": "restricted",
}
DOCS_SECTION = "## PodSecurity by namespace"
STRICTER = {"privileged": "baseline", "baseline": "restricted"}


def namespaces(render):
    return {o["metadata"]["name"]: o for o in render.objects.values() if o["kind"] == "Namespace"}


def test_every_namespace_enforces_the_expected_level(platform_render):
    found = {name: ns["metadata"]["labels"].get(LEVEL) for name, ns in namespaces(platform_render).items()}
    assert found == EXPECTED
    for name, ns in namespaces(platform_render).items():
        labels = ns["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce-version"] == "latest", name
        # audit and warn stay at restricted everywhere: what is above it is still reported.
        assert labels["pod-security.kubernetes.io/audit"] == labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_meshed_namespaces_enforce_restricted(platform_render):
    """The proxy injector adds only the proxy and the network validator (CNI mode): both restricted."""
    meshed = [
        name
        for name, ns in namespaces(platform_render).items()
        if (ns["metadata"].get("annotations") or {}).get("linkerd.io/inject") == "enabled"
    ]
    assert meshed, "no namespace is annotated for injection"
    for name in meshed:
        assert namespaces(platform_render)[name]["metadata"]["labels"][LEVEL] == "restricted", name


def test_every_exemption_is_justified_in_docs_security(render_tools):
    text = (render_tools.repo / "docs/security.md").read_text()
    assert DOCS_SECTION in text, f"docs/security.md has no section {DOCS_SECTION!r}"
    section = text.split(DOCS_SECTION, 1)[1].split("\n## ", 1)[0]
    for name, level in EXPECTED.items():
        row = [line for line in section.splitlines() if line.startswith(f"| `{name}` |")]
        assert row, f"docs/security.md {DOCS_SECTION}: no row for namespace {name}"
        assert f"`{level}`" in row[0], f"docs/security.md: the row of {name} does not say `{level}`"
        if level != "restricted":
            assert len(row[0]) > 80, f"docs/security.md: say why {name} enforces {level}"


def _workloads(render):
    for path, obj in render.objects.items():
        if pod_spec_of(obj) is not None:
            yield str(path), obj
    for app, obj in gitops_render.objects():
        if pod_spec_of(obj) is not None:
            yield f"gitops/{app}", obj


def test_pods_pass_what_their_namespace_enforces(platform_render):
    """A namespace cannot claim a level its own pods would be refused under."""
    levels = {name: ns["metadata"]["labels"][LEVEL] for name, ns in namespaces(platform_render).items()}
    checked = {}
    for where, obj in _workloads(platform_render):
        namespace = obj["metadata"].get("namespace")
        if namespace == "kube-system":  # k3s's own namespace, exempt in the k3s role's PSA config
            continue
        assert namespace in levels, f"{where}: namespace {namespace} is not created by the platform"
        problems = violations(pod_spec_of(obj), levels[namespace])
        assert problems == [], (
            f"{where} {obj['kind']} {obj['metadata']['name']}: {levels[namespace]} refuses {problems}"
        )
        checked.setdefault(namespace, []).append(obj["metadata"]["name"])
    # Every namespace with workloads of its own was looked at, the restricted ones included.
    assert {"argocd", "cnpg-system", "drone", "gitea", "keycloak", "monitoring", "task-api"} <= set(checked)
    # The strictest level they allow: a namespace below `restricted` has a pod the next level
    # up would refuse. (drone-builds has no rendered pod: its pods are the pipelines' steps.)
    for namespace, names in checked.items():
        if levels[namespace] != "restricted":
            stricter = STRICTER[levels[namespace]]
            refused = [
                o["metadata"]["name"]
                for _unused, o in _workloads(platform_render)
                if o["metadata"].get("namespace") == namespace and violations(pod_spec_of(o), stricter)
            ]
            assert refused, f"{namespace} enforces {levels[namespace]} but all its pods {names} pass {stricter}"


def test_the_checker_refuses_what_the_levels_refuse():
    """The checks above can fail: a privileged hostPath pod, and a root pod with defaults."""
    node_pod = {
        "hostPID": True,
        "containers": [{"name": "c", "securityContext": {"privileged": True}}],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
    }
    root_pod = {"containers": [{"name": "c", "image": "x"}]}
    assert len(violations(node_pod, "baseline")) == 3
    assert violations(root_pod, "baseline") == []
    assert {"c: runAsNonRoot must be true", "c: capabilities must drop ALL"} <= set(violations(root_pod, "restricted"))
    assert violations(node_pod, "privileged") == []


# --- The Linkerd charts: values, and their pods when helm can render them ----------------


def _helm_chart(render, name):
    found = [o for o in render.objects.values() if o["kind"] == "HelmChart" and o["metadata"]["name"] == name]
    assert len(found) == 1, f"HelmChart {name}: found {len(found)}"
    return found[0]


def test_control_plane_runs_in_cni_mode(platform_render, render_tools):
    values = yaml.safe_load(_helm_chart(platform_render, "linkerd-control-plane")["spec"]["valuesContent"])
    assert values["cniEnabled"] is True
    # Upstream says the same: with cniEnabled the chart's own Namespace (CLI installs) enforces
    # restricted (charts/linkerd-control-plane/templates/namespace.yaml, viz's likewise).
    for chart in ("charts/linkerd-control-plane", "viz/charts/linkerd-viz"):
        template = render_tools.upstream_path(f"linkerd/edge-26.8.3/{chart}/templates/namespace.yaml").read_text()
        assert "cniEnabled" in template and "restricted" in template, chart
    # Injected pods get linkerd-network-validator instead of proxy-init in CNI mode, with the
    # chart's restricted securityContext unless values override it (partials/_network-validator.tpl).
    validator = render_tools.upstream_path("linkerd/edge-26.8.3/charts/partials/templates/_network-validator.tpl")
    assert "runAsNonRoot: true" in validator.read_text()
    assert not (values.get("networkValidator") or {}).get("securityContext")
    assert values["proxy"]["capabilities"] == {"drop": ["ALL"]}


def _secret_values(render, chart_obj):
    """The valuesSecrets documents helm-controller merges after valuesContent."""
    docs = []
    for ref in chart_obj["spec"].get("valuesSecrets") or []:
        (secret,) = [
            o
            for o in render.objects.values()
            if o["kind"] == "Secret"
            and o["metadata"]["name"] == ref["name"]
            and o["metadata"]["namespace"] == "kube-system"
        ]
        docs += [base64.b64decode(secret["data"][key]).decode() for key in ref["keys"]]
    return docs


def helm_pods(render, name, work, kube_version):
    """Workloads of HelmChart ``name`` as `helm template` renders them with its values."""
    # helm v4 as the control-plane tier builds it (scripts/setup), else one on PATH.
    helm = shutil.which("helm") or str(controlplane.binaries() / "bin" / "helm")
    chart_obj = _helm_chart(render, name)
    data = base64.b64decode(chart_obj["spec"]["chartContent"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            # Regular files under one relative folder only (Python 3.11.2 has no extraction filter).
            assert member.isreg() and not member.name.startswith("/") and ".." not in member.name.split("/")
            target = work / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(tar.extractfile(member).read())
    (chart_dir,) = [p for p in work.iterdir() if p.is_dir()]
    args = []
    for index, text in enumerate([chart_obj["spec"].get("valuesContent") or "{}", *_secret_values(render, chart_obj)]):
        values = work / f"values-{index}.yaml"
        values.write_text(text)
        args += ["-f", str(values)]
    namespace = chart_obj["spec"]["targetNamespace"]
    result = subprocess.run(
        [helm, "template", name, str(chart_dir), "-n", namespace, "--kube-version", kube_version, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return namespace, [d for d in yaml.safe_load_all(result.stdout) if d and pod_spec_of(d) is not None]


CHART_FOLDERS = {
    "linkerd-control-plane": "charts/linkerd-control-plane",
    "linkerd-viz": "viz/charts/linkerd-viz",
    "linkerd-cni": "charts/linkerd2-cni",
}


@pytest.mark.parametrize("name", sorted(CHART_FOLDERS))
def test_linkerd_chart_pods_pass_what_their_namespace_enforces(platform_render, render_tools, tmp_path, name):
    """The control plane's pods carry the proxy and the network validator exactly as injected pods do.

    (Viz's pods get theirs from the injector at admission, from the same partials.)
    """
    render_tools.upstream_path(f"linkerd/edge-26.8.3/{CHART_FOLDERS[name]}/Chart.yaml")  # the real chart, or skip
    namespace, workloads = helm_pods(platform_render, name, tmp_path / "chart", render_tools.k8s_version)
    assert workloads, f"{name}: helm rendered no workload"
    level = namespaces(platform_render)[namespace]["metadata"]["labels"][LEVEL]
    for obj in workloads:
        pod = pod_spec_of(obj)
        names = {c["name"] for key in ("initContainers", "containers") for c in pod.get(key) or []}
        assert "linkerd-init" not in names, f"{name} {obj['metadata']['name']}: proxy-init in CNI mode"
        assert violations(pod, level) == [], (
            f"{name} {obj['metadata']['name']}: {level} refuses {violations(pod, level)}"
        )
    if level != "restricted":  # the exemption is needed: the next level up refuses a pod
        assert any(violations(pod_spec_of(o), STRICTER[level]) for o in workloads), f"{namespace} could be stricter"
    if name == "linkerd-control-plane":
        assert any(
            c["name"] == "linkerd-network-validator"
            for o in workloads
            for c in pod_spec_of(o).get("initContainers") or []
        )
