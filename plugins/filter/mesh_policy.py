# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The platform's NetworkPolicy rule for meshed pods (plugins/module_utils/k8s/mesh_policy.py).

``policies | gauntlet.platform.mesh_network_policy`` returns the NetworkPolicy (or each
NetworkPolicy of a list; other objects pass unchanged) with TCP 4143, Linkerd's inbound
port, admitted wherever a rule admits TCP ports to or from peers that may be meshed;
``meshed=false`` returns the input unchanged (the pods the policies select are not meshed).

``'argocd' | gauntlet.platform.mesh_proxy_policy(name='argocd-linkerd-proxy')`` returns
the NetworkPolicy admitting the proxies' metrics port 4191 from the platform's Prometheus
and linkerd-viz, and the tap port 4190 from linkerd-viz.

``'keycloak' | gauntlet.platform.namespace_network_policies(allows, meshed=true, egress=false)``
returns every NetworkPolicy of a platform namespace: ``default-deny`` (Ingress, plus Egress
with ``egress``), ``allow-dns`` and, for meshed pods, ``allow-linkerd-control-plane`` when
egress is denied, one policy per allow entry (format in
plugins/module_utils/k8s/mesh_policy.py), and for meshed namespaces the rule above applied and
``linkerd-proxy`` added. Optional: ``namespaces`` (a dictionary like gauntlet_namespaces,
whose keys linkerd, monitoring and linkerd_viz are used), or ``linkerd_namespace``,
``prometheus_namespace``, ``viz_namespace``; ``labels``. Bad entries raise an error
naming the namespace and the entry.

``'argocd' | gauntlet.platform.mesh_mtls_policy('argocd-redis', {'app.kubernetes.io/name':
'argocd-redis'}, 6379, clients=[{'serviceaccount': 'argocd-server'}], proxy_protocol='opaque')``
returns a Linkerd Server for the port (access denied by default), a MeshTLSAuthentication
of the clients (ServiceAccounts; a client with only ``namespace`` means every one of that
namespace) and the AuthorizationPolicy joining them: only those meshed identities reach
the port.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.mesh_policy import (
    MeshPolicyError,
    mirror_inbound,
    mtls_policy,
    namespace_policies,
    proxy_ports_policy,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(MeshPolicyError)
def mesh_network_policy(objects, meshed=True):
    if not meshed:
        return objects
    if isinstance(objects, list):
        return [mirror_inbound(o) if isinstance(o, dict) and o.get("kind") == "NetworkPolicy" else o for o in objects]
    return mirror_inbound(objects)


@filter_errors(MeshPolicyError)
def mesh_proxy_policy(namespace, name="linkerd-proxy", prometheus_namespace="monitoring", viz_namespace="linkerd-viz",
                      labels=None):  # fmt: skip
    return proxy_ports_policy(namespace, name=name, prometheus_namespace=prometheus_namespace,
                              viz_namespace=viz_namespace, labels=labels)  # fmt: skip


@filter_errors(MeshPolicyError)
def namespace_network_policies(namespace, allows=None, meshed=False, egress=False, namespaces=None,
                               linkerd_namespace="linkerd", prometheus_namespace="monitoring",
                               viz_namespace="linkerd-viz", labels=None):  # fmt: skip
    if namespaces is not None:
        if not isinstance(namespaces, dict):
            raise AnsibleFilterError(f"namespace_network_policies: namespaces must be a dictionary, got {namespaces!r}")
        linkerd_namespace = namespaces.get("linkerd", linkerd_namespace)
        prometheus_namespace = namespaces.get("monitoring", prometheus_namespace)
        viz_namespace = namespaces.get("linkerd_viz", viz_namespace)
    return namespace_policies(namespace, allows, meshed=bool(meshed), egress=bool(egress),
                              linkerd_namespace=linkerd_namespace, prometheus_namespace=prometheus_namespace,
                              viz_namespace=viz_namespace, labels=labels)  # fmt: skip


@filter_errors(MeshPolicyError)
def mesh_mtls_policy(namespace, name, pod_selector, port, clients, proxy_protocol=None, labels=None):
    return mtls_policy(namespace, name, pod_selector, port, clients, proxy_protocol=proxy_protocol, labels=labels)


class FilterModule:
    """NetworkPolicies for meshed pods."""

    def filters(self):
        return {
            "mesh_network_policy": mesh_network_policy,
            "mesh_proxy_policy": mesh_proxy_policy,
            "namespace_network_policies": namespace_network_policies,
            "mesh_mtls_policy": mesh_mtls_policy,
        }
