"""NetworkPolicy semantics (networking.k8s.io/v1), to compute whether a flow is admitted.

Follows the API reference (kubernetes/api networking/v1/types.go):
- a pod is isolated for a direction only when some policy in its namespace selects it
  (spec.podSelector) and lists that direction in policyTypes (default: Ingress, plus
  Egress when spec.egress is set); a non-isolated pod admits everything;
- an isolated pod admits a connection when any rule of any selecting policy matches:
  a rule without ``from``/``to`` matches every peer, without ``ports`` every port;
- a peer with podSelector only means pods of the policy's namespace; namespaceSelector
  only, every pod of the matching namespaces; both, the pods matching podSelector in the
  matching namespaces; ipBlock is never used for pods here (asserted, not guessed);
- a port matches by number (with endPort as a range) or by name (the pod's containerPort
  name), protocol defaulting to TCP;
- a connection needs egress admitted at the client and ingress at the server;
- a host-network endpoint (the API server, a node's registry, webhooks' caller) is in no
  namespace: no pod or namespace selector matches it, only a rule without peers does, and
  no NetworkPolicy isolates it (Pod(host=True)).

Namespaces carry kubernetes.io/metadata.name (set by the API server on every namespace).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict
    meshed: bool
    # containerPort name -> number, for named ports in policies.
    named_ports: dict = field(default_factory=dict)
    # A host-network endpoint (node address), not a pod.
    host: bool = False

    def __hash__(self):
        return hash((self.namespace, tuple(sorted(self.labels.items())), self.host))


def selects(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels, matchExpressions) against labels; {} selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ValueError(f"unknown selector operator {op}")
    return True


def namespace_labels(name: str, extra: dict | None = None) -> dict:
    return {"kubernetes.io/metadata.name": name, **(extra or {})}


def policy_types(policy: dict) -> set[str]:
    spec = policy["spec"]
    if spec.get("policyTypes"):
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def _peer_matches(peer: dict, policy_namespace: str, pod: Pod, ns_labels: dict) -> bool:
    assert "ipBlock" not in peer, "ipBlock peers are not modelled: pods are matched by selectors only"
    if pod.host:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], ns_labels.get(pod.namespace, namespace_labels(pod.namespace))):
            return False
    elif pod.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), pod.labels)


def _port_matches(rule_port: dict, port: int, protocol: str, server: Pod) -> bool:
    if rule_port.get("protocol", "TCP") != protocol:
        return False
    if "port" not in rule_port:
        return True
    value = rule_port["port"]
    if isinstance(value, str) and not value.isdigit():
        return server.named_ports.get(value) == port
    low = int(value)
    return low <= port <= int(rule_port.get("endPort", low))


def _rule_admits(rule: dict, key: str, policy_ns: str, peer: Pod, port: int, proto: str, server: Pod, ns_labels):
    peers = rule.get(key)
    if peers and not any(_peer_matches(p, policy_ns, peer, ns_labels) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(_port_matches(p, port, proto, server) for p in ports)


def admitted(policies, client: Pod, server: Pod, port: int, protocol: str = "TCP", ns_labels=None) -> tuple:
    """(egress admitted at client, ingress admitted at server) for a connection to server:port."""
    ns_labels = ns_labels or {}

    def direction(pod: Pod, kind: str, key: str, peer: Pod) -> bool:
        if pod.host:
            return True
        selecting = [
            p
            for p in policies
            if p["metadata"]["namespace"] == pod.namespace
            and kind in policy_types(p)
            and selects(p["spec"].get("podSelector"), pod.labels)
        ]
        if not selecting:
            return True
        rules_key = "ingress" if kind == "Ingress" else "egress"
        return any(
            _rule_admits(rule, key, p["metadata"]["namespace"], peer, port, protocol, server, ns_labels)
            for p in selecting
            for rule in p["spec"].get(rules_key) or []
        )

    return direction(client, "Egress", "to", server), direction(server, "Ingress", "from", client)
