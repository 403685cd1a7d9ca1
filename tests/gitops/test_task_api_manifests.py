"""gitops/task-api: render the kustomization and validate every object strictly.

No kustomize binary is available offline, so the test renders the
kustomization itself. It implements exactly the fields gitops/task-api uses
(resources as plain files, namespace, images) and fails on any other field, so
it can never silently render something different from kustomize.

Built-in kinds are validated with kubernetes-validate (strict: unknown fields
are errors) against the Kubernetes 1.36 schemas; the ServiceMonitor against the
openAPIV3Schema of the Prometheus operator CRD that kube-prometheus v0.18.0
ships, read from the upstream folder (tests/upstream.py) at test time.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from upstream import path as upstream_path

REPO_ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZATION_DIR = REPO_ROOT / "gitops" / "task-api"
SERVICEMONITOR_CRD = "kube-prometheus/v0.18.0/manifests/setup/0servicemonitorCustomResourceDefinition.yaml"
KUBERNETES_VERSION = "1.36"
IMAGE = "registry.local:5000/gauntlet/task-api"
SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


def render(directory: Path) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    assert not unsupported, f"the test renderer does not implement {sorted(unsupported)}; extend render()"
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = directory / resource
        assert path.is_file(), f"resource {resource} is not a file in {directory}"
        objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    namespace = kustomization.get("namespace")
    for obj in objects:
        if namespace and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for obj in objects:
            pod = obj.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []) + pod.get("initContainers", []):
                name = container["image"].split("@")[0]
                if ":" in name.rsplit("/", 1)[-1]:
                    name = name.rsplit(":", 1)[0]
                if name == image["name"]:
                    new = image.get("newName", name)
                    if "digest" in image:
                        container["image"] = f"{new}@{image['digest']}"
                    elif "newTag" in image:
                        container["image"] = f"{new}:{image['newTag']}"
    return objects


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return render(KUSTOMIZATION_DIR)


def find(objects: list[dict[str, Any]], kind: str, name: str = "task-api") -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def strict_schema(schema: Any) -> Any:
    """Forbid unknown fields the way the API server's strict field validation does."""
    if isinstance(schema, dict):
        schema = {k: strict_schema(v) for k, v in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    return schema


def test_the_schemas_for_the_target_version_are_shipped():
    versions = kubernetes_validate.utils.all_versions()
    assert any(v.startswith(KUBERNETES_VERSION + ".") for v in versions), (
        f"kubernetes-validate {kubernetes_validate.__version__} has no {KUBERNETES_VERSION} schemas: {versions}"
    )


def test_every_manifest_file_is_listed():
    kustomization = yaml.safe_load((KUSTOMIZATION_DIR / "kustomization.yaml").read_text())
    on_disk = {p.name for p in KUSTOMIZATION_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert on_disk == set(kustomization["resources"])


def test_builtin_kinds_validate_strictly(objects):
    builtin = [o for o in objects if o["kind"] != "ServiceMonitor"]
    # No Namespace: Ansible owns task-api's (roles/cnpg; docs/platform.md, one owner per object).
    assert "Namespace" not in {o["kind"] for o in builtin}
    assert {o["kind"] for o in builtin} >= {
        "ServiceAccount",
        "ConfigMap",
        "Deployment",
        "Service",
        "Ingress",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
    }
    for obj in builtin:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")


def test_strict_validation_catches_unknown_fields(objects):
    broken = copy.deepcopy(find(objects, "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _servicemonitor_schema() -> dict[str, Any]:
    crd = yaml.safe_load(upstream_path(SERVICEMONITOR_CRD).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return strict_schema(version["schema"]["openAPIV3Schema"])


def test_servicemonitor_validates_against_the_crd(objects):
    schema = _servicemonitor_schema()
    monitor = find(objects, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    jsonschema.validate(monitor, schema)
    broken = copy.deepcopy(monitor)
    broken["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_everything_lands_in_the_task_api_namespace(objects):
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "task-api", obj["metadata"]["name"]


def test_deployment_runs_the_pinned_image_hardened_and_meshed(objects):
    deployment = find(objects, "Deployment")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"
    spec = pod["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = spec["containers"]
    kustomization = yaml.safe_load((KUSTOMIZATION_DIR / "kustomization.yaml").read_text())
    assert container["image"] == f"{IMAGE}:{kustomization['images'][0]['newTag']}"
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert probe in container
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    env_names = {e["name"] for e in container.get("env", [])}
    config = find(objects, "ConfigMap")["data"]
    assert {"TASK_API_DATABASE_URL"} <= env_names
    assert config["TASK_API_OIDC_ISSUER"] == "https://keycloak.local/realms/gauntlet"
    assert config["TASK_API_OIDC_AUDIENCE"] == "task-api"
    assert config["TASK_API_JWKS_URL"] == "https://keycloak.local/realms/gauntlet/protocol/openid-connect/certs"
    assert not any("PASSWORD" in key for key in config)
    grace = spec["terminationGracePeriodSeconds"]
    drain = container["lifecycle"]["preStop"]["sleep"]["seconds"] + int(config["TASK_API_SHUTDOWN_TIMEOUT"])
    proxy_wait = int(pod["metadata"]["annotations"]["config.alpha.linkerd.io/proxy-wait-before-exit-seconds"])
    assert drain <= proxy_wait < grace, "the mesh proxy must outlive the drain, and both fit in the grace period"


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """The checks of the restricted Pod Security Standard that apply to this pod."""
    problems = []
    pod_ctx = pod.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{flag} is set")
    for volume in pod.get("volumes", []):
        allowed = {"name", "configMap", "emptyDir", "projected", "secret", "downwardAPI", "persistentVolumeClaim"}
        if set(volume) - allowed:
            problems.append(f"volume {volume['name']} has a restricted type")
    for container in pod.get("initContainers", []) + pod["containers"]:
        ctx = container.get("securityContext", {})
        name = container["name"]
        if ctx.get("privileged"):
            problems.append(f"{name} is privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name} may escalate privileges")
        if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
            problems.append(f"{name} may run as root")
        if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
            problems.append(f"{name} runs as uid 0")
        seccomp = ctx.get("seccompProfile", pod_ctx.get("seccompProfile", {})).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name} has no seccomp profile")
        capabilities = ctx.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            problems.append(f"{name} does not drop ALL capabilities")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name} adds capabilities")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{name} uses a hostPort")
    return problems


def test_pod_meets_the_restricted_pod_security_standard(objects):
    assert restricted_violations(find(objects, "Deployment")["spec"]["template"]["spec"]) == []


def test_selectors_and_ports_line_up(objects):
    pod_labels = find(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    container_ports = {
        p["name"] for p in find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    service = find(objects, "Service")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports
    monitor = find(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= service_ports
    pdb = find(objects, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert find(objects, "Deployment")["spec"]["replicas"] > pdb["spec"]["minAvailable"]
    policy = find(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()


def test_ingress_publishes_only_the_api_on_tasks_local(objects):
    ingress = find(objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "traefik"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "tasks.local"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/tasks", "Prefix")
    assert path["backend"]["service"]["name"] == find(objects, "Service")["metadata"]["name"]


def _peers(rules: list[dict[str, Any]]) -> list[tuple[str | None, dict[str, str], set[int]]]:
    peers = []
    for rule in rules:
        ports = {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get("from", rule.get("to", [])):
            namespace = peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            peers.append((namespace, peer.get("podSelector", {}).get("matchLabels", {}), ports))
    return peers


def test_network_policy_allows_exactly_the_needed_flows(objects):
    deny = find(objects, "NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {}
    assert set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    policy = find(objects, "NetworkPolicy")["spec"]
    ingress = _peers(policy["ingress"])
    # Traefik (kube-system) is never meshed: app port only. Prometheus may be: 4143 too.
    assert ("kube-system", {"app.kubernetes.io/name": "traefik"}, {8000}) in ingress
    assert ("monitoring", {"app.kubernetes.io/name": "prometheus"}, {8000, 4143}) in ingress
    assert all(namespace is not None for namespace, _unused, _unused in ingress), (
        "every ingress peer is namespace-scoped"
    )
    egress = _peers(policy["egress"])
    by_peer = {(namespace, tuple(sorted(labels.items()))): ports for namespace, labels, ports in egress}
    assert by_peer[("kube-system", (("k8s-app", "kube-dns"),))] == {53}
    # Keycloak's keys over HTTPS at the public URL (ssl_required all): through Traefik, whose
    # websecure entry point listens on 8443 in its pod (traefik chart v40.1.0 values.yaml,
    # ports.websecure.port); the Service's 443 is rewritten to it before policy applies.
    assert by_peer[("kube-system", (("app.kubernetes.io/name", "traefik"),))] == {8443}
    assert {namespace for namespace, _unused, _unused in egress} == {"kube-system", "database", "linkerd"}
    assert [ports for namespace, _unused, ports in egress if namespace == "database"] == [{5432, 4143}]
    assert all(rule.get("ports") for rule in policy["egress"]), "no egress rule may open every port"


def test_network_policies_follow_the_meshed_rule(objects):
    """docs/security.md "Meshed pods": 4143 beside every app-port rule, the proxy ports policy as the helper makes it."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.mesh_policy import (
        proxy_ports_policy,
        rule_violations,
    )

    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert [line for p in policies for line in rule_violations(p)] == []
    proxy = find(objects, "NetworkPolicy", "linkerd-proxy")
    assert proxy["spec"] == proxy_ports_policy("task-api")["spec"]


def test_prometheus_may_discover_targets_here(objects):
    binding = find(objects, "RoleBinding", "prometheus-k8s")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}]
    assert binding["roleRef"]["name"] == find(objects, "Role", "prometheus-k8s")["metadata"]["name"]


def test_renderer_rejects_fields_it_does_not_implement(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\npatches: []\n"
    )
    with pytest.raises(AssertionError, match="patches"):
        render(tmp_path)
