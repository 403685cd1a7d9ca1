# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The platform's one rule for NetworkPolicies of meshed pods (docs/security.md, "Meshed pods").

Upstream facts (Linkerd edge-26.8.3, read in the sources):

- charts/linkerd-control-plane/values.yaml: ``proxy.outboundTransportMode:
  transport-header``; ``proxy.ports``: inbound 4143, admin 4191, control 4190;
  ``proxy.opaquePorts`` (5432, 6379, ...); ``proxyInjector.namespaceSelector`` leaves out
  kube-system, so pods there are never meshed.
- linkerd2 controller/api/destination/endpoint_translator.go (createWeightedAddr): a
  meshed client sends to a meshed pod's inbound port 4143 (with a transport header naming
  the app port) in transport-header mode and for opaque ports in any mode; the proxy's
  own admin (4191: metrics) and control (4190: tap) ports are reached directly.

NetworkPolicy cannot say "4143 only for traffic meant for 8080", so the rule is:

1. **Mirror**: every ingress or egress rule of a policy that selects meshed pods and
   admits TCP ports to or from peers that may be meshed also admits TCP 4143 for the same
   peers. Peers that are all in kube-system (never injected) and rules for the proxy's
   own ports 4191/4190 only (reached directly) are left as they are. The
   app-port rule stays for unmeshed peers. Linkerd's own policy (Server /
   AuthorizationPolicy) then authorises per app port.
2. **Proxy ports**: a namespace with meshed pods and NetworkPolicies admits 4191 from the
   platform's Prometheus (monitoring, app.kubernetes.io/name=prometheus) and from
   linkerd-viz, and 4190 from linkerd-viz only.

Stdlib only.
"""

from __future__ import annotations

import copy

PROXY_INBOUND = 4143
PROXY_ADMIN = 4191
PROXY_CONTROL = 4190
NEVER_MESHED = ("kube-system",)
_NS = "kubernetes.io/metadata.name"


class MeshPolicyError(ValueError):
    """Not a NetworkPolicy the rule can be applied to."""


def _check(policy) -> dict:
    if (
        not isinstance(policy, dict)
        or policy.get("kind") != "NetworkPolicy"
        or not isinstance(policy.get("spec"), dict)
    ):
        raise MeshPolicyError(f"expected a NetworkPolicy object, got {str(policy)[:120]}")
    return policy


def _never_meshed(peers) -> bool:
    """True when every peer is namespace-selected to a namespace Linkerd never injects."""
    if not peers:
        return False
    for peer in peers:
        names = ((peer.get("namespaceSelector") or {}).get("matchLabels") or {}).get(_NS)
        if names not in NEVER_MESHED:
            return False
    return True


def _needs_inbound(rule: dict, peers_key: str) -> bool:
    ports = rule.get("ports")
    if not ports or _never_meshed(rule.get(peers_key)):
        return False
    tcp = [p for p in ports if p.get("protocol", "TCP") == "TCP"]
    # The proxy's own ports are reached directly, never through 4143.
    if all(p.get("port") in (PROXY_ADMIN, PROXY_CONTROL) and "endPort" not in p for p in tcp):
        return False
    return not any(p.get("protocol", "TCP") == "TCP" and _covers(p, PROXY_INBOUND) for p in ports)


def _covers(port: dict, number: int) -> bool:
    value = port.get("port")
    if value is None:
        return True
    if isinstance(value, str) and not value.isdigit():
        return False
    return int(value) <= number <= int(port.get("endPort", value))


def mirror_inbound(policy: dict) -> dict:
    """The policy with TCP 4143 added to every rule that needs it (rule 1); input untouched."""
    policy = copy.deepcopy(_check(policy))
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for rule in policy["spec"].get(direction) or []:
            if _needs_inbound(rule, peers_key):
                rule["ports"].append({"port": PROXY_INBOUND, "protocol": "TCP"})
    return policy


def rule_violations(policy: dict) -> list[str]:
    """Rules of a policy for meshed pods that break rule 1, as readable lines."""
    _check(policy)
    name = f"{policy['metadata'].get('namespace', '?')}/{policy['metadata'].get('name', '?')}"
    problems = []
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(policy["spec"].get(direction) or []):
            if _needs_inbound(rule, peers_key):
                ports = ", ".join(str(p.get("port", "all")) for p in rule["ports"])
                problems.append(
                    f"NetworkPolicy {name} {direction}[{index}] admits {ports} but not {PROXY_INBOUND}, "
                    "where meshed peers arrive"
                )
    return problems


def proxy_ports_policy(
    namespace: str,
    name: str = "linkerd-proxy",
    pod_selector: dict | None = None,
    prometheus_namespace: str = "monitoring",
    viz_namespace: str = "linkerd-viz",
    labels: dict | None = None,
) -> dict:
    """The NetworkPolicy of rule 2 for the meshed pods of ``namespace``."""
    for label, value in (("namespace", namespace), ("name", name), ("prometheus_namespace", prometheus_namespace),
                         ("viz_namespace", viz_namespace)):  # fmt: skip
        if not isinstance(value, str) or not value:
            raise MeshPolicyError(f"{label} must be a non-empty string, got {value!r}")
    prometheus = {
        "namespaceSelector": {"matchLabels": {_NS: prometheus_namespace}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
    }
    viz = {"namespaceSelector": {"matchLabels": {_NS: viz_namespace}}}
    ingress = [
        {"from": [prometheus, viz], "ports": [{"port": PROXY_ADMIN, "protocol": "TCP"}]},
        {"from": [viz], "ports": [{"port": PROXY_CONTROL, "protocol": "TCP"}]},
    ]
    return _policy(namespace, name, pod_selector or {}, ["Ingress"], labels, ingress=ingress)


# --- Namespace policies: default deny plus the flows a component needs ------------------
#
# Every platform namespace gets its NetworkPolicies from namespace_policies(): one
# ``default-deny`` (Ingress, and Egress where the role asks for it), ``allow-dns`` when
# egress is denied, one policy per allow entry, the control-plane egress of meshed pods,
# and the proxy-ports policy (rule 2) for meshed namespaces. Every policy it returns for
# meshed pods goes through mirror_inbound (rule 1): the one rule for meshed traffic.
#
# Allow entries are short dictionaries (role vars, docs/security.md "Network segmentation"):
#
#   name: keycloak                                # policy name
#   pods: {app.kubernetes.io/name: keycloak}      # matchLabels of the pods it selects ({}: all)
#   ingress:                                      # optional; each rule:
#     - from: [traefik]                           #   peers (below); absent: any source
#       ports: [8080, "53/UDP"]                   #   absent: every port
#   egress:
#     - to: [{namespace: database, pods: {cnpg.io/cluster: platform-db}}]
#       ports: [5432]
#
# A peer is ``traefik`` (k3s's Traefik in kube-system), ``kube-dns`` (CoreDNS), or a
# dictionary with ``namespace`` (a name, or ``"*"`` for every namespace; absent: the
# policy's own namespace) and ``pods`` (matchLabels; absent: every pod of the namespace).
# A rule without peers admits any address on its ports: the API server, webhooks called by
# it and node addresses are not pods, and a NetworkPolicy peer of pods cannot name them.

DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
# Linkerd's control plane as the proxies reach it (charts/linkerd-control-plane/templates:
# identity.yaml containerPort 8080, destination.yaml 8086 destination and 8090 policy).
CONTROL_PLANE_PORTS = (8080, 8086, 8090)
# k3s's packaged Traefik (manifests/traefik.yaml of k3s: release traefik in kube-system; the
# chart labels its pods app.kubernetes.io/name=traefik) and CoreDNS (manifests/coredns.yaml:
# k8s-app=kube-dns).
NAMED_PEERS = {
    "traefik": {
        "namespaceSelector": {"matchLabels": {_NS: "kube-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
    },
    "kube-dns": {
        "namespaceSelector": {"matchLabels": {_NS: "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    },
}
_ALLOW_KEYS = {"name", "pods", "ingress", "egress"}
_RULE_KEYS = {"ingress": ("from", "ports"), "egress": ("to", "ports")}


def _peer(peer, where: str) -> dict:
    if isinstance(peer, str):
        if peer not in NAMED_PEERS:
            raise MeshPolicyError(f"{where}: unknown peer {peer!r}; use one of {sorted(NAMED_PEERS)} or a dictionary")
        return copy.deepcopy(NAMED_PEERS[peer])
    if not isinstance(peer, dict) or not peer or set(peer) - {"namespace", "pods"}:
        raise MeshPolicyError(f"{where}: a peer is a name or a dictionary of namespace and pods, got {peer!r}")
    result = {}
    namespace = peer.get("namespace")
    if namespace is not None:
        if not isinstance(namespace, str) or not namespace:
            raise MeshPolicyError(f"{where}: namespace must be a name or '*', got {namespace!r}")
        result["namespaceSelector"] = {} if namespace == "*" else {"matchLabels": {_NS: namespace}}
    pods = peer.get("pods")
    if pods is not None:
        if not isinstance(pods, dict):
            raise MeshPolicyError(f"{where}: pods must be a dictionary of labels, got {pods!r}")
        result["podSelector"] = {"matchLabels": dict(pods)} if pods else {}
    if "namespace" not in peer and "pods" not in peer:
        raise MeshPolicyError(f"{where}: a peer needs namespace or pods")
    if "namespaceSelector" in result and "podSelector" not in result:
        return result
    result.setdefault("podSelector", {})
    return result


def _port(port, where: str) -> dict:
    if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
        return {"port": port, "protocol": "TCP"}
    if isinstance(port, str):
        number, _unused, protocol = port.partition("/")
        protocol = protocol or "TCP"
        if number.isdigit() and 0 < int(number) < 65536 and protocol in ("TCP", "UDP", "SCTP"):
            return {"port": int(number), "protocol": protocol}
    raise MeshPolicyError(f"{where}: a port is a number or 'NUMBER/PROTOCOL' (TCP, UDP, SCTP), got {port!r}")


def _rule(rule, direction: str, where: str) -> dict:
    peers_key, ports_key = _RULE_KEYS[direction]
    if not isinstance(rule, dict) or set(rule) - {peers_key, ports_key}:
        raise MeshPolicyError(f"{where}: a {direction} rule has only {peers_key} and {ports_key}, got {rule!r}")
    result = {}
    if rule.get(peers_key) is not None:
        if not isinstance(rule[peers_key], list) or not rule[peers_key]:
            raise MeshPolicyError(f"{where}: {peers_key} must be a non-empty list (leave it out for any address)")
        result[peers_key] = [_peer(p, f"{where}.{peers_key}[{i}]") for i, p in enumerate(rule[peers_key])]
    if rule.get(ports_key) is not None:
        if not isinstance(rule[ports_key], list) or not rule[ports_key]:
            raise MeshPolicyError(f"{where}: ports must be a non-empty list (leave it out for every port)")
        result[ports_key] = [_port(p, f"{where}.ports[{i}]") for i, p in enumerate(rule[ports_key])]
    return result


def _policy(namespace, name, pod_selector, types, labels, ingress=None, egress=None) -> dict:
    spec = {"podSelector": pod_selector, "policyTypes": types}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "gauntlet", **(labels or {})},
        },
        "spec": spec,
    }


def allow_policy(namespace: str, allow: dict, labels: dict | None = None) -> dict:
    """The NetworkPolicy of one allow entry (format above); not mirrored."""
    if not isinstance(allow, dict) or set(allow) - _ALLOW_KEYS or not allow.get("name"):
        raise MeshPolicyError(
            f"allow entry of namespace {namespace} needs a name and only {sorted(_ALLOW_KEYS)}, got {str(allow)[:200]}"
        )
    where = f"{namespace}/{allow['name']}"
    pods = allow.get("pods") or {}
    if not isinstance(pods, dict):
        raise MeshPolicyError(f"{where}: pods must be a dictionary of labels, got {pods!r}")
    types, rules = [], {}
    for direction in ("ingress", "egress"):
        if direction in allow:
            if not isinstance(allow[direction], list) or not allow[direction]:
                raise MeshPolicyError(f"{where}: {direction} must be a non-empty list of rules")
            types.append(direction.capitalize())
            rules[direction] = [
                _rule(r, direction, f"{where}.{direction}[{i}]") for i, r in enumerate(allow[direction])
            ]
    if not types:
        raise MeshPolicyError(f"{where}: an allow entry needs ingress or egress rules")
    selector = {"matchLabels": dict(pods)} if pods else {}
    return _policy(namespace, allow["name"], selector, types, labels, **rules)


def namespace_policies(
    namespace: str,
    allows: list | None = None,
    meshed: bool = False,
    egress: bool = False,
    linkerd_namespace: str = "linkerd",
    prometheus_namespace: str = "monitoring",
    viz_namespace: str = "linkerd-viz",
    labels: dict | None = None,
) -> list[dict]:
    """Every NetworkPolicy of a platform namespace: default deny plus ``allows``."""
    if not isinstance(namespace, str) or not namespace:
        raise MeshPolicyError(f"namespace must be a non-empty string, got {namespace!r}")
    if allows is None:
        allows = []
    if not isinstance(allows, list):
        raise MeshPolicyError(f"allows of namespace {namespace} must be a list, got {type(allows).__name__}")
    types = ["Ingress", "Egress"] if egress else ["Ingress"]
    policies = [_policy(namespace, "default-deny", {}, types, labels)]
    if egress:
        policies.append(_policy(namespace, "allow-dns", {}, ["Egress"], labels,
                                egress=[{"to": [copy.deepcopy(NAMED_PEERS["kube-dns"])], "ports": DNS_PORTS}]))  # fmt: skip
        if meshed:
            # The proxy's own connections to identity, destination and policy.
            control_plane = {"namespaceSelector": {"matchLabels": {_NS: linkerd_namespace}}}
            policies.append(_policy(namespace, "allow-linkerd-control-plane", {}, ["Egress"], labels,
                                    egress=[{"to": [control_plane],
                                             "ports": [{"port": p, "protocol": "TCP"} for p in CONTROL_PLANE_PORTS]}]))  # fmt: skip
    names = {p["metadata"]["name"] for p in policies}
    for allow in allows:
        policy = allow_policy(namespace, allow, labels)
        if policy["metadata"]["name"] in names | {"linkerd-proxy"}:
            raise MeshPolicyError(f"{namespace}: NetworkPolicy name {policy['metadata']['name']} is used twice")
        names.add(policy["metadata"]["name"])
        policies.append(policy)
    if meshed:
        policies = [mirror_inbound(p) for p in policies]
        policies.append(proxy_ports_policy(namespace, prometheus_namespace=prometheus_namespace,
                                           viz_namespace=viz_namespace, labels=labels))  # fmt: skip
    return policies


# --- Linkerd authorization: ports that require mTLS -------------------------------------
#
# For a port whose every client is meshed, the platform requires Linkerd's mutual TLS with
# a known identity: a Server (policy.linkerd.io/v1beta3) for the port, whose accessPolicy
# defaults to deny, a MeshTLSAuthentication naming the clients' ServiceAccounts, and an
# AuthorizationPolicy tying them together. Fields as in the linkerd-crds chart of
# edge-26.8.3 (templates/policy/server.yaml, meshtls-authentication.yaml: an identityRef
# without a name means every ServiceAccount of its namespace; authorization-policy.yaml:
# every requiredAuthenticationRef must hold), the pattern the viz chart itself uses
# (viz/charts/linkerd-viz/templates/metrics-api-policy.yaml). Ports unmeshed clients use
# (Traefik, Prometheus, build pods, kubelet probes) cannot require mTLS: docs/security.md.


def mtls_policy(
    namespace: str,
    name: str,
    pod_selector: dict,
    port,
    clients: list,
    proxy_protocol: str | None = None,
    labels: dict | None = None,
) -> list[dict]:
    """Server, MeshTLSAuthentication and AuthorizationPolicy: ``port`` of the selected
    pods admits only meshed clients whose identity is one of ``clients`` (dictionaries
    with ``serviceaccount`` and/or ``namespace``; no serviceaccount: all of the namespace)."""
    where = f"mTLS policy {namespace}/{name}"
    for label, value in (("namespace", namespace), ("name", name)):
        if not isinstance(value, str) or not value:
            raise MeshPolicyError(f"{where}: {label} must be a non-empty string, got {value!r}")
    if not isinstance(pod_selector, dict) or not pod_selector:
        raise MeshPolicyError(f"{where}: pod_selector must be a non-empty dictionary of labels, got {pod_selector!r}")
    if not (isinstance(port, int) and 0 < port < 65536) and not (isinstance(port, str) and port):
        raise MeshPolicyError(f"{where}: port must be a number or a container port name, got {port!r}")
    if not isinstance(clients, list) or not clients:
        raise MeshPolicyError(f"{where}: clients must be a non-empty list")
    refs = []
    for client in clients:
        if not isinstance(client, dict) or not client or set(client) - {"serviceaccount", "namespace"}:
            raise MeshPolicyError(f"{where}: a client has serviceaccount and/or namespace, got {client!r}")
        ref = {"kind": "ServiceAccount"}
        if client.get("serviceaccount"):
            ref["name"] = client["serviceaccount"]
        if client.get("namespace"):
            ref["namespace"] = client["namespace"]
        refs.append(ref)
    meta = {"namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "gauntlet", **(labels or {})}}
    server_spec = {"podSelector": {"matchLabels": dict(pod_selector)}, "port": port, "accessPolicy": "deny"}
    if proxy_protocol:
        server_spec["proxyProtocol"] = proxy_protocol
    return [
        {"apiVersion": "policy.linkerd.io/v1beta3", "kind": "Server",
         "metadata": {"name": name, **copy.deepcopy(meta)}, "spec": server_spec},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "MeshTLSAuthentication",
         "metadata": {"name": f"{name}-clients", **copy.deepcopy(meta)}, "spec": {"identityRefs": refs}},
        {"apiVersion": "policy.linkerd.io/v1alpha1", "kind": "AuthorizationPolicy",
         "metadata": {"name": name, **copy.deepcopy(meta)},
         "spec": {"targetRef": {"group": "policy.linkerd.io", "kind": "Server", "name": name},
                  "requiredAuthenticationRefs": [{"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication",
                                                  "name": f"{name}-clients"}]}},
    ]  # fmt: skip
