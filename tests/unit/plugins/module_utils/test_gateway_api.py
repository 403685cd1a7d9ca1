"""Who provides the Gateway API CRDs Linkerd needs, decided from the CRDs the API returns.

The CRD objects are built the way the cluster returns them: on k3s 1.34-1.36 the
``traefik-crd`` HelmChart installs ``crds/gateway-standard-install.yaml`` of the Traefik
chart (k3s-io/k3s-charts packages/traefik/package.yaml: ``crdDirectory: templates``, so the
CRDs are templates of that release) and Helm stamps every release object with
``meta.helm.sh/release-name``/``release-namespace`` and ``app.kubernetes.io/managed-by:
Helm`` (helm/helm pkg/action/validate.go); helm-controller runs the release in the
HelmChart's namespace when no targetNamespace is set (k3s-io/helm-controller v0.17.7
pkg/controllers/chart/chart.go). The Linkerd copies come from the linkerd-crds chart of
edge-26.8.3. Both are read from the upstream folder (tests/upstream.py); those tests skip without it.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.gateway_api import (
    GatewayApiError,
    decide,
    render_default,
)

# Names in the upstream folder (tests/upstream.py: GAUNTLET_UPSTREAM_DIR, required in CI).
TRAEFIK_GATEWAY = "traefik-helm-chart/v40.1.0/traefik/crds/gateway-standard-install.yaml"
LINKERD_CRDS = "linkerd/edge-26.8.3/charts/linkerd-crds/templates"
HTTP, GRPC, TLS, TCP = (
    f"{k}.gateway.networking.k8s.io" for k in ("httproutes", "grpcroutes", "tlsroutes", "tcproutes")
)


def _need(name: str) -> Path:
    from upstream import path as upstream_path  # skips, or fails in CI, when absent

    return upstream_path(name)


def helm_release(crd: dict, name: str, namespace: str) -> dict:
    """The CRD as the API returns it after Helm installed it as part of release namespace/name."""
    crd = copy.deepcopy(crd)
    meta = crd["metadata"]
    meta["annotations"] = {
        **(meta.get("annotations") or {}),
        "meta.helm.sh/release-name": name,
        "meta.helm.sh/release-namespace": namespace,
    }
    meta["labels"] = {**(meta.get("labels") or {}), "app.kubernetes.io/managed-by": "Helm"}
    crd["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
    return crd


@functools.cache
def _load(name: str, strip_templates: bool = False) -> tuple:
    text = _need(name).read_text()
    if strip_templates:
        text = "\n".join(line for line in text.splitlines() if "{{" not in line)
    return tuple(d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d)


def traefik_crd_objects() -> list[dict]:
    """What k3s 1.36's traefik-crd release leaves in the cluster (Gateway API v1.5.1 standard)."""
    docs = _load(TRAEFIK_GATEWAY)
    return [helm_release(d, "traefik-crd", "kube-system") for d in docs if d["kind"] == "CustomResourceDefinition"]


def linkerd_crd_objects(namespace: str = "linkerd") -> list[dict]:
    """The four route CRDs as the linkerd-crds release installs them (template lines dropped)."""
    crds = []
    for path in sorted(_need(LINKERD_CRDS).glob("gateway.networking.k8s.io_*.yaml")):
        crds += [helm_release(d, "linkerd-crds", namespace) for d in _load(path, strip_templates=True)]
    return crds


def test_k3s_traefik_crd_release_is_used_never_installed_or_adopted():
    decision = decide(traefik_crd_objects(), release_namespace="linkerd")
    assert decision["install"] is False
    assert decision["values"] == {
        "installGatewayAPI": False,
        "enableHttpRoutes": False,
        "enableTlsRoutes": False,
        "enableTcpRoutes": False,
    }
    assert decision["owner"] == "Helm release kube-system/traefik-crd"
    assert decision["served"][HTTP] == ["v1", "v1beta1"]
    assert decision["served"][GRPC] == ["v1"]
    # v1.5.1 standard serves TLSRoute v1 only and has no TCPRoute: Linkerd's policy
    # controller (TLSRoute pinned to v1alpha2) skips both watches, which the platform
    # does not use; they are reported, not installed beside another owner's set.
    assert decision["skipped"] == ["TCPRoute", "TLSRoute"]


def test_absent_crds_are_installed_from_the_bundle():
    decision = decide([], release_namespace="linkerd")
    assert decision["install"] is True
    assert decision["values"] == {
        "installGatewayAPI": True,
        "enableHttpRoutes": True,
        "enableTlsRoutes": True,
        "enableTcpRoutes": True,
    }
    assert decision["owner"] == "Helm release linkerd/linkerd-crds"
    assert decision["skipped"] == []


def test_our_own_earlier_install_stays_ours():
    decision = decide(linkerd_crd_objects("linkerd"), release_namespace="linkerd")
    assert decision["install"] is True
    assert decision["values"]["enableHttpRoutes"] is True
    assert decision["skipped"] == []


def test_a_linkerd_crds_release_of_another_namespace_is_someone_else():
    decision = decide(linkerd_crd_objects("other"), release_namespace="linkerd")
    assert decision["install"] is False
    assert decision["owner"] == "Helm release other/linkerd-crds"


def test_crds_applied_without_helm_are_used():
    crds = traefik_crd_objects()
    for crd in crds:
        del crd["metadata"]["annotations"]["meta.helm.sh/release-name"]
        del crd["metadata"]["annotations"]["meta.helm.sh/release-namespace"]
        del crd["metadata"]["labels"]["app.kubernetes.io/managed-by"]
    decision = decide(crds, release_namespace="linkerd")
    assert decision["install"] is False
    assert decision["owner"] == "no Helm release (applied directly)"


def test_owned_by_someone_else_without_v1_fails_clearly():
    crds = traefik_crd_objects()
    http = next(c for c in crds if c["metadata"]["name"] == HTTP)
    for version in http["spec"]["versions"]:
        version["served"] = version["name"] != "v1"
    with pytest.raises(GatewayApiError) as error:
        decide(crds, release_namespace="linkerd")
    message = str(error.value)
    assert HTTP in message and "v1" in message and "kube-system/traefik-crd" in message
    assert "v1beta1" in message  # what it does serve


def test_half_of_the_required_pair_from_another_owner_fails():
    crds = [c for c in traefik_crd_objects() if c["metadata"]["name"] != GRPC]
    with pytest.raises(GatewayApiError, match="grpcroutes"):
        decide(crds, release_namespace="linkerd")


def test_optional_kinds_served_at_linkerds_version_are_not_skipped():
    crds = traefik_crd_objects()
    tls = next(c for c in crds if c["metadata"]["name"] == TLS)
    for version in tls["spec"]["versions"]:
        version["served"] = version["name"] in ("v1", "v1alpha2")
    decision = decide(crds, release_namespace="linkerd")
    assert decision["skipped"] == ["TCPRoute"]


def test_not_a_crd_list_is_a_clear_error():
    with pytest.raises(GatewayApiError, match="list"):
        decide({"kind": "CustomResourceDefinition"}, release_namespace="linkerd")
    with pytest.raises(GatewayApiError, match=r"metadata\.name"):
        decide([{"kind": "CustomResourceDefinition"}], release_namespace="linkerd")


def test_render_default_documents_both_choices():
    assert render_default("existing")["values"]["installGatewayAPI"] is False
    assert render_default("install")["values"]["installGatewayAPI"] is True
    with pytest.raises(GatewayApiError, match="existing, install"):
        render_default("auto")
