"""Builders for the objects every platform role needs: its Namespace and its Ingress.

One place decides the PodSecurity labels, the Linkerd injection annotation and how a
service is published through Traefik over TLS, so the roles cannot drift apart.

Stdlib only.
"""

from __future__ import annotations

import re

POD_SECURITY_LEVELS = ("restricted", "baseline", "privileged")
MANAGED_BY = {"app.kubernetes.io/managed-by": "gauntlet"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class PlatformObjectError(ValueError):
    """An argument that cannot make a valid object."""


def namespace_object(name: str, pod_security: str = "restricted", inject: bool = False) -> dict:
    """A Namespace enforcing ``pod_security`` (audit and warn stay at ``restricted``).

    ``inject`` annotates it for Linkerd proxy injection. Linkerd's proxy-init needs
    NET_ADMIN and NET_RAW, which neither ``restricted`` nor ``baseline`` allow, so an
    injected namespace must enforce ``privileged``; that exemption is the caller's choice
    and is documented in docs/security.md.
    """
    if not isinstance(name, str) or not _DNS_LABEL.match(name):
        raise PlatformObjectError(f"namespace name {name!r} is not a DNS label (lower case, digits, '-')")
    if pod_security not in POD_SECURITY_LEVELS:
        raise PlatformObjectError(f"pod_security {pod_security!r} must be one of {', '.join(POD_SECURITY_LEVELS)}")
    if inject and pod_security != "privileged":
        raise PlatformObjectError(
            f"namespace {name}: Linkerd injection needs pod_security 'privileged' (proxy-init uses NET_ADMIN); "
            f"got {pod_security!r}"
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
