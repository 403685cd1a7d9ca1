# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The platform's NetworkPolicy rule for meshed pods (plugins/module_utils/mesh_policy.py).

``policies | gauntlet.platform.mesh_network_policy`` returns the NetworkPolicy (or each
NetworkPolicy of a list; other objects pass unchanged) with TCP 4143, Linkerd's inbound
port, admitted wherever a rule admits TCP ports to or from peers that may be meshed;
``meshed=false`` returns the input unchanged (the pods the policies select are not meshed).

``'argocd' | gauntlet.platform.mesh_proxy_policy(name='argocd-linkerd-proxy')`` returns
the NetworkPolicy admitting the proxies' metrics port 4191 from the platform's Prometheus
and linkerd-viz, and the tap port 4190 from linkerd-viz.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.mesh_policy import (
    MeshPolicyError,
    mirror_inbound,
    proxy_ports_policy,
)


def mesh_network_policy(objects, meshed=True):
    if not meshed:
        return objects
    try:
        if isinstance(objects, list):
            return [
                mirror_inbound(o) if isinstance(o, dict) and o.get("kind") == "NetworkPolicy" else o for o in objects
            ]
        return mirror_inbound(objects)
    except MeshPolicyError as exc:
        raise AnsibleFilterError(f"mesh_network_policy: {exc}") from exc


def mesh_proxy_policy(namespace, name="linkerd-proxy", prometheus_namespace="monitoring", viz_namespace="linkerd-viz",
                      labels=None):  # fmt: skip
    try:
        return proxy_ports_policy(namespace, name=name, prometheus_namespace=prometheus_namespace,
                                  viz_namespace=viz_namespace, labels=labels)  # fmt: skip
    except MeshPolicyError as exc:
        raise AnsibleFilterError(f"mesh_proxy_policy: {exc}") from exc


class FilterModule:
    """NetworkPolicies for meshed pods."""

    def filters(self):
        return {"mesh_network_policy": mesh_network_policy, "mesh_proxy_policy": mesh_proxy_policy}
