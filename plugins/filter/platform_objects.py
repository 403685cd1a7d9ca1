# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters building the Namespace and the Ingress of a platform role.

``'gitea' | gauntlet.platform.platform_namespace(pod_security='restricted', inject=false)``
returns a Namespace with PodSecurity labels (enforce as given, audit and warn
``restricted``) and, with ``inject``, the ``linkerd.io/inject: enabled`` annotation.

``'gitea' | gauntlet.platform.platform_ingress(namespace='gitea', host='gitea.local',
service='gitea-http', port=3000, path='/', annotations={})`` returns an Ingress for
Traefik's ``websecure`` entry point with TLS from Traefik's default certificate; ``path``
may be a list of path prefixes, the only ones that reach the service.

``local_domains_services | gauntlet.platform.platform_ingress_host_policy(gauntlet_service_namespaces)``
returns a ValidatingAdmissionPolicy and its binding that refuse an Ingress naming a host
its namespace may not publish (or no host at all).
"""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.k8s.platform_objects import (
    PlatformObjectError,
    ingress_host_policy,
    ingress_object,
    namespace_object,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(PlatformObjectError)
def platform_namespace(name, pod_security="restricted", inject=False):
    return namespace_object(name, pod_security=pod_security, inject=bool(inject))


@filter_errors(PlatformObjectError)
def platform_ingress(name, namespace, host, service, port, path="/", annotations=None):
    return ingress_object(name, namespace, host, service, port, path=path, annotations=annotations)


@filter_errors(PlatformObjectError)
def platform_ingress_host_policy(services, namespaces):
    return ingress_host_policy(services, namespaces)


class FilterModule:
    """Namespace and Ingress of a platform role."""

    def filters(self):
        return {
            "platform_namespace": platform_namespace,
            "platform_ingress": platform_ingress,
            "platform_ingress_host_policy": platform_ingress_host_policy,
        }
