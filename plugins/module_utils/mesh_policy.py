# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
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
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "gauntlet", **(labels or {})},
        },
        "spec": {
            "podSelector": pod_selector or {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [prometheus, viz], "ports": [{"port": PROXY_ADMIN, "protocol": "TCP"}]},
                {"from": [viz], "ports": [{"port": PROXY_CONTROL, "protocol": "TCP"}]},
            ],
        },
    }
