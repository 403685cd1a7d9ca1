# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Who provides the Gateway API CRDs Linkerd needs: decided from the CRDs in the cluster.

Upstream facts this relies on (checked in the sources, not remembered):

- Linkerd edge-26.8.3's policy controller watches gateway.networking.k8s.io HTTPRoute v1
  and GRPCRoute v1 (gateway-api crate 0.21.0, ``apis/experimental``), TCPRoute v1alpha2
  (same crate) and TLSRoute pinned to v1alpha2 (linkerd2
  policy-controller/k8s/api/src/lib.rs). Each watch starts only when its kind is served at
  that version (policy-controller/runtime/src/args.rs, ``api_resource_exists``); a kind
  that is not is skipped with a warning. ``linkerd check`` and ``linkerd install`` require
  httproutes and grpcroutes with a v1 version (pkg/healthcheck/healthcheck.go,
  ``CheckGatewayAPICRDs``). So HTTPRoute v1 and GRPCRoute v1 are required; TLSRoute and
  TCPRoute v1alpha2 are used when served.
- The linkerd-crds chart (charts/linkerd-crds/values.yaml, templates/gateway.*) installs
  its own copies (Gateway API v1.1.1) per switch: ``enableHttpRoutes`` (httproutes and
  grpcroutes), ``enableTlsRoutes``, ``enableTcpRoutes``, each defaulting to
  ``installGatewayAPI`` (false at edge-26.8.3).
- On k3s 1.34-1.36 the ``traefik-crd`` HelmChart installs the Traefik chart's
  ``crds/gateway-standard-install.yaml`` (Gateway API v1.5.1 standard: HTTPRoute v1 and
  v1beta1, GRPCRoute v1, TLSRoute v1 only, no TCPRoute) as templates of its release, so
  Helm stamps them ``meta.helm.sh/release-name: traefik-crd``,
  ``meta.helm.sh/release-namespace: kube-system`` and ``app.kubernetes.io/managed-by:
  Helm`` (helm/helm pkg/action/validate.go; k3s-io/k3s-charts packages/traefik/package.yaml).
  Helm refuses to install an object another release owns, so the linkerd-crds release
  must never claim them.

The rule: the Gateway API set has one owner. If httproutes and grpcroutes are absent (or
were installed by this platform's own linkerd-crds release), the linkerd-crds release
installs all four kinds it carries that nobody else owns. If another owner provides them,
they are used as they are (never installed, never adopted): the required versions must be
served, and optional kinds that are missing or not served at Linkerd's version are
reported, not added beside another owner's set.

Stdlib only; pure functions over the CRD objects as the API returns them.
"""

from __future__ import annotations

GROUP = "gateway.networking.k8s.io"
RELEASE_NAME = "linkerd-crds"
# CRD name -> (kind, version Linkerd's policy controller reads, required, chart switch).
ROUTE_KINDS = {
    f"httproutes.{GROUP}": ("HTTPRoute", "v1", True, "enableHttpRoutes"),
    f"grpcroutes.{GROUP}": ("GRPCRoute", "v1", True, "enableHttpRoutes"),
    f"tlsroutes.{GROUP}": ("TLSRoute", "v1alpha2", False, "enableTlsRoutes"),
    f"tcproutes.{GROUP}": ("TCPRoute", "v1alpha2", False, "enableTcpRoutes"),
}
SWITCHES = ("enableHttpRoutes", "enableTlsRoutes", "enableTcpRoutes")
RENDER_CHOICES = ("existing", "install")


class GatewayApiError(ValueError):
    """The cluster's Gateway API CRDs cannot serve Linkerd, or the input is not CRDs."""


def _owner(crd: dict) -> str:
    meta = crd.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    name = annotations.get("meta.helm.sh/release-name")
    if name:
        return f"Helm release {annotations.get('meta.helm.sh/release-namespace', '?')}/{name}"
    if labels.get("app.kubernetes.io/managed-by"):
        return f"{labels['app.kubernetes.io/managed-by']} (app.kubernetes.io/managed-by)"
    return "no Helm release (applied directly)"


def _served(crd: dict) -> list[str]:
    return sorted(v.get("name", "") for v in (crd.get("spec") or {}).get("versions") or [] if v.get("served"))


def _index(crds) -> dict[str, dict]:
    if not isinstance(crds, list):
        raise GatewayApiError(f"expected a list of CustomResourceDefinition objects, got {type(crds).__name__}")
    index = {}
    for crd in crds:
        name = (crd.get("metadata") or {}).get("name") if isinstance(crd, dict) else None
        if not name or not isinstance(name, str):
            raise GatewayApiError(f"a CustomResourceDefinition without metadata.name: {str(crd)[:120]}")
        index[name] = crd
    return index


def decide(crds, release_namespace: str, release_name: str = RELEASE_NAME) -> dict:
    """The linkerd-crds values and a report, from the route CRDs the cluster has.

    ``crds`` lists the CRD objects read from the API (absent ones are simply not in it;
    others are ignored). Returns ``install`` (whether the linkerd-crds release provides
    the required kinds), ``values`` (the chart's switches), ``owner`` (who provides
    HTTPRoute/GRPCRoute), ``served`` (CRD name -> served versions, present ones only),
    ``skipped`` (kinds Linkerd will not watch) and ``summary``. Raises GatewayApiError
    with what to do when Linkerd cannot run on what is there.
    """
    index = _index(crds)
    ours = f"Helm release {release_namespace}/{release_name}"
    present = {name: index[name] for name in ROUTE_KINDS if name in index}
    owners = {name: _owner(crd) for name, crd in present.items()}
    served = {name: _served(crd) for name, crd in present.items()}

    required = [name for name, spec in ROUTE_KINDS.items() if spec[2]]
    external = [name for name in required if name in present and owners[name] != ours]
    if external and len(external) != len(required):
        missing = [name for name in required if name not in external]
        raise GatewayApiError(
            f"{', '.join(external)} is provided by {owners[external[0]]} but {', '.join(missing)} is "
            f"{'installed by ' + owners[missing[0]] if missing[0] in present else 'absent'}: Linkerd needs "
            "HTTPRoute and GRPCRoute from one Gateway API set, and the linkerd-crds chart installs both or "
            f"neither. Have {owners[external[0]]} provide both (a Gateway API standard install does), or remove it."
        )
    install = not external

    if not install:
        for name in required:
            kind, version = ROUTE_KINDS[name][:2]
            if version not in served[name]:
                raise GatewayApiError(
                    f"{name} is provided by {owners[name]} but serves {', '.join(served[name]) or 'no version'}; "
                    f"Linkerd edge-26.8.3 reads {kind} {GROUP}/{version}. Upgrade that Gateway API set to "
                    "v1.1.1 or later (standard channel), or remove it so the linkerd-crds chart installs its own."
                )

    values = {"installGatewayAPI": install}
    skipped = []
    for name, (kind, version, is_required, switch) in ROUTE_KINDS.items():
        if is_required:
            values[switch] = install
            continue
        mine = name not in present or owners[name] == ours
        # Optional kinds join only a set the linkerd-crds release owns: Gateway API
        # versions and channels are not mixed across owners.
        values[switch] = install and mine
        if not values[switch] and version not in served.get(name, []):
            skipped.append(kind)
    owner = ours if install else owners[required[0]]
    summary = f"Gateway API CRDs for Linkerd: {'installed by' if install else 'used from'} {owner}" + (
        f"; Linkerd skips {', '.join(sorted(skipped))} (not served at the version it reads)" if skipped else ""
    )
    return {
        "install": install,
        "values": values,
        "owner": owner,
        "served": served,
        "skipped": sorted(skipped),
        "summary": summary,
    }


def render_default(choice: str, release_namespace: str = "linkerd", release_name: str = RELEASE_NAME) -> dict:
    """The decision render mode writes, where no cluster can be read.

    ``existing``: as on k3s 1.34-1.36, where traefik-crd serves HTTPRoute and GRPCRoute
    v1 (the platform's pinned k3s). ``install``: as on a cluster without them.
    """
    if choice not in RENDER_CHOICES:
        raise GatewayApiError(f"render choice {choice!r} must be one of {', '.join(RENDER_CHOICES)}")
    if choice == "install":
        return decide([], release_namespace=release_namespace, release_name=release_name)
    stand_in = [
        {
            "metadata": {"name": name, "annotations": {"meta.helm.sh/release-name": "(render mode: not read)"}},
            "spec": {"versions": [{"name": "v1", "served": True}]},
        }
        for name, spec in ROUTE_KINDS.items()
        if spec[2]
    ]
    decision = decide(stand_in, release_namespace=release_namespace, release_name=release_name)
    decision["owner"] = "an existing owner (render mode assumes k3s 1.34-1.36's traefik-crd; not read)"
    decision["summary"] = f"Gateway API CRDs for Linkerd: used from {decision['owner']}"
    return decision
