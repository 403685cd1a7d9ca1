# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Builders for the objects every platform role needs: its Namespace and its Ingress.

One place decides the PodSecurity labels, the Linkerd injection annotation and how a
service is published through Traefik over TLS, so the roles cannot drift apart.

Stdlib only.
"""

from __future__ import annotations

import json
import re

POD_SECURITY_LEVELS = ("restricted", "baseline", "privileged")
MANAGED_BY = {"app.kubernetes.io/managed-by": "gauntlet"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PlatformObjectError(ValueError):
    """An argument that cannot make a valid object."""


def namespace_object(name: str, pod_security: str = "restricted", inject: bool = False) -> dict:
    """A Namespace enforcing ``pod_security`` (audit and warn stay at ``restricted``).

    ``inject`` annotates it for Linkerd proxy injection. Linkerd runs with its CNI plugin
    (role linkerd, cni.yml): the injector adds only the proxy and the
    linkerd-network-validator, both of which pass ``restricted``, so injection is no
    reason to lower the level. An injected namespace enforcing ``privileged`` is refused:
    it was the exemption proxy-init needed, and the hole security review C2 found
    (docs/security.md, "PodSecurity by namespace").
    """
    if not isinstance(name, str) or not _DNS_LABEL.match(name):
        raise PlatformObjectError(f"namespace name {name!r} is not a DNS label (lower case, digits, '-')")
    if pod_security not in POD_SECURITY_LEVELS:
        raise PlatformObjectError(f"pod_security {pod_security!r} must be one of {', '.join(POD_SECURITY_LEVELS)}")
    if inject and pod_security == "privileged":
        raise PlatformObjectError(
            f"namespace {name}: a Linkerd-injected namespace may not enforce 'privileged' (Linkerd runs with its "
            "CNI plugin, so meshed pods pass 'restricted'); give the level its own workloads need"
        )
    metadata = {
        "name": name,
        "labels": {
            **MANAGED_BY,
            "pod-security.kubernetes.io/enforce": pod_security,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest",
        },
    }
    if inject:
        metadata["annotations"] = {"linkerd.io/inject": "enabled"}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def ingress_object(
    name: str, namespace: str, host: str, service: str, port, path: str | list = "/", annotations: dict | None = None
) -> dict:
    """An Ingress publishing ``service:port`` at ``https://host/path`` through Traefik.

    TLS uses Traefik's default certificate (the local CA's wildcard for every local
    domain, see the traefik role), so no certificate Secret is needed per service.
    ``port`` is a number or a named port. ``path`` is one path prefix or a list of them
    (only those reach the service; Kubernetes matches ``Prefix`` paths element-wise).
    """
    for label, value in (("name", name), ("namespace", namespace), ("service", service)):
        if not isinstance(value, str) or not _DNS_LABEL.match(value):
            raise PlatformObjectError(f"ingress {label} {value!r} is not a DNS label")
    if not isinstance(host, str) or not _DNS_NAME.match(host):
        raise PlatformObjectError(f"ingress host {host!r} is not a DNS name; set it in local_domains_services")
    paths = [path] if isinstance(path, str) else path
    if not isinstance(paths, list) or not paths:
        raise PlatformObjectError(f"ingress path {path!r} must be a path or a non-empty list of paths")
    for item in paths:
        if not isinstance(item, str) or not item.startswith("/"):
            raise PlatformObjectError(f"ingress path {item!r} must start with '/'")
    if len(set(paths)) != len(paths):
        raise PlatformObjectError(f"ingress path list {paths!r} names a path twice")
    if isinstance(port, bool) or not isinstance(port, int | str) or port in ("", 0):
        raise PlatformObjectError(f"ingress port {port!r} must be a port number or a port name")
    backend_port = {"number": int(port)} if isinstance(port, int) or str(port).isdigit() else {"name": port}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(MANAGED_BY),
            "annotations": {
                "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
                "traefik.ingress.kubernetes.io/router.tls": "true",
                **(annotations or {}),
            },
        },
        "spec": {
            "ingressClassName": "traefik",
            "tls": [{"hosts": [host]}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": item,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": dict(backend_port)}},
                            }
                            for item in paths
                        ]
                    },
                }
            ],
        },
    }


INGRESS_HOST_POLICY = "gauntlet-ingress-hosts"


def _cel_string(value: str) -> str:
    """A CEL string literal (JSON's double-quoted form is valid CEL for these characters)."""
    return json.dumps(value)


def ingress_host_policy(services: dict, namespaces: dict, name: str = INGRESS_HOST_POLICY) -> list[dict]:
    """A ValidatingAdmissionPolicy and its binding tying each Ingress host to one namespace.

    ``services`` is ``local_domains_services`` (service -> host), ``namespaces`` the
    namespace publishing each service (service -> namespace); a service without a namespace
    (the registry, served directly) may be published by no Ingress, and a namespace entry for
    a service without a domain is left out. The policy refuses an
    Ingress (CREATE, UPDATE) that has a ``defaultBackend`` or a rule without a host (both
    catch every host), or names a host in a rule or in ``tls`` that its namespace may not
    publish. Fields: admissionregistration.k8s.io/v1, GA and built into the API server
    since Kubernetes 1.30 (k8s.io/api admissionregistration/v1 types.go). The expressions
    are standard CEL (no Kubernetes extension library), evaluated against ``object``,
    ``request`` and ``variables``.
    """
    if not isinstance(services, dict) or not services:
        raise PlatformObjectError("local_domains_services must map service names to domains")
    if not isinstance(namespaces, dict):
        raise PlatformObjectError("the service namespaces must be a mapping of service name to namespace")
    allowed = {}
    # A service without a domain publishes nothing (a site may leave one out of
    # local_domains_services); a domain without a namespace may be named by no Ingress.
    for service, namespace in sorted((s, n) for s, n in namespaces.items() if s in services):
        host = services[service]
        if not isinstance(host, str) or not _DNS_NAME.match(host):
            raise PlatformObjectError(f"local_domains_services.{service}: {host!r} is not a DNS name")
        if not isinstance(namespace, str) or not _DNS_LABEL.match(namespace):
            raise PlatformObjectError(f"namespace of service {service}: {namespace!r} is not a DNS label")
        allowed[host] = namespace
    allowed_cel = "{" + ", ".join(f"{_cel_string(h)}: {_cel_string(n)}" for h, n in sorted(allowed.items())) + "}"

    def may_publish(host: str) -> str:
        return f"({host} in variables.allowed && variables.allowed[{host}] == request.namespace)"

    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "labels": dict(MANAGED_BY)},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["networking.k8s.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["ingresses"],
                    }
                ]
            },
            "variables": [{"name": "allowed", "expression": allowed_cel}],
            "validations": [
                {
                    "expression": "!has(object.spec.defaultBackend)",
                    "message": "an Ingress may not set spec.defaultBackend: it would answer for every host",
                    "reason": "Forbidden",
                },
                {
                    "expression": (
                        f"!has(object.spec.rules) || object.spec.rules.all(r, has(r.host) && {may_publish('r.host')})"
                    ),
                    "message": (
                        "every Ingress rule needs a host, and each host may be published only from the namespace "
                        "of its service (local_domains_services and gauntlet_service_namespaces)"
                    ),
                    "messageExpression": (
                        "'Ingress ' + request.namespace + '/' + request.name + ': every rule needs a host, and '"
                        " + 'namespace ' + request.namespace + ' may publish only the hosts of its own services'"
                    ),
                    "reason": "Forbidden",
                },
                {
                    "expression": (
                        f"!has(object.spec.tls) || object.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, {may_publish('h')}))"
                    ),
                    "message": "an Ingress may list in spec.tls only hosts its namespace may publish",
                    "reason": "Forbidden",
                },
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name, "labels": dict(MANAGED_BY)},
        "spec": {"policyName": name, "validationActions": ["Deny"]},
    }
    return [policy, binding]
