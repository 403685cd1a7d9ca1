# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Pure helpers for the k3s roles: config.yaml building, bundle lock reading, token checks
and the file names of rendered Kubernetes objects. No Ansible imports, so tests use them directly.
"""

from __future__ import annotations

import re


# Flags `k3s agent` accepts (k3s v1.36). A server accepts these too.
AGENT_FLAGS = frozenset(
    [
        "token",
        "token-file",
        "server",
        "data-dir",
        "node-name",
        "with-node-id",
        "node-label",
        "node-taint",
        "image-credential-provider-bin-dir",
        "image-credential-provider-config",
        "selinux",
        "lb-server-port",
        "protect-kernel-defaults",
        "kubelet-arg",
        "kube-proxy-arg",
        "node-ip",
        "node-external-ip",
        "node-internal-dns",
        "node-external-dns",
        "resolv-conf",
        "flannel-iface",
        "flannel-conf",
        "flannel-cni-conf-dir",
        "container-runtime-endpoint",
        "default-runtime",
        "image-service-endpoint",
        "disable-default-registry-endpoint",
        "nonroot-devices",
        "pause-image",
        "snapshotter",
        "private-registry",
        "system-default-registry",
        "airgap-extra-registry",
        "vpn-auth",
        "vpn-auth-file",
        "disable-apiserver-lb",
        "rootless",
        "prefer-bundled-bin",
        "docker",
        "debug",
        "v",
        "vmodule",
        "log",
        "alsologtostderr",
        "enable-pprof",
    ]
)

# Flags only `k3s server` accepts: an agent must never get one of these.
SERVER_ONLY_FLAGS = frozenset(
    [
        "cluster-init",
        "cluster-reset",
        "cluster-reset-restore-path",
        "bind-address",
        "advertise-address",
        "advertise-port",
        "tls-san",
        "tls-san-security",
        "https-listen-port",
        "supervisor-port",
        "apiserver-port",
        "apiserver-bind-address",
        "cluster-cidr",
        "service-cidr",
        "service-node-port-range",
        "cluster-dns",
        "cluster-domain",
        "flannel-backend",
        "flannel-ipv6-masq",
        "flannel-external-ip",
        "egress-selector-mode",
        "servicelb-namespace",
        "write-kubeconfig",
        "write-kubeconfig-mode",
        "write-kubeconfig-group",
        "agent-token",
        "agent-token-file",
        "kube-apiserver-arg",
        "etcd-arg",
        "kube-controller-manager-arg",
        "kube-scheduler-arg",
        "kube-cloud-controller-manager-arg",
        "datastore-endpoint",
        "datastore-cafile",
        "datastore-certfile",
        "datastore-keyfile",
        "etcd-expose-metrics",
        "etcd-disable-snapshots",
        "etcd-snapshot-name",
        "etcd-snapshot-schedule-cron",
        "etcd-snapshot-retention",
        "etcd-snapshot-dir",
        "etcd-snapshot-compress",
        "default-local-storage-path",
        "disable",
        "disable-scheduler",
        "disable-cloud-controller",
        "disable-kube-proxy",
        "disable-network-policy",
        "disable-helm-controller",
        "disable-agent",
        "embedded-registry",
        "supervisor-metrics",
        "secrets-encryption",
        "secrets-encryption-provider",
        "kine-tls",
        "node-ip-family",
    ]
)

_FLAG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_DNS_PART = re.compile(r"[^a-z0-9.-]+")


class K3sConfigError(ValueError):
    """Raised with a message the user can act on."""


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def build_config(settings, role: str) -> dict:
    """Return the content of /etc/rancher/k3s/config.yaml for a server or an agent.

    Empty values are dropped (so optional settings can stay in the defaults as ""/[]),
    keys are sorted, every key must be a k3s flag of that role. An agent refuses
    server-only flags: it never gets server arguments.
    """
    if role not in ("server", "agent"):
        raise K3sConfigError(f"role must be 'server' or 'agent', got {role!r}")
    if not isinstance(settings, dict):
        raise K3sConfigError("expected a mapping of k3s flag name to value")
    allowed = AGENT_FLAGS if role == "agent" else AGENT_FLAGS | SERVER_ONLY_FLAGS
    config = {}
    server_only, unknown = [], []
    for key in sorted(settings, key=str):
        value = settings[key]
        if _empty(value):
            continue
        if not isinstance(key, str) or not _FLAG.match(key):
            raise K3sConfigError(f"{key!r} is not a k3s flag name (lowercase words joined by hyphens, no leading --)")
        if role == "agent" and key in SERVER_ONLY_FLAGS:
            server_only.append(key)
        elif key not in allowed:
            unknown.append(key)
        if isinstance(value, (list, tuple)):
            value = [str(item) for item in value]
        elif isinstance(value, dict):
            raise K3sConfigError(f"{key}: a flag value is a string, number, boolean or list, not a mapping")
        config[key] = value
    if server_only:
        raise K3sConfigError(f"an agent cannot take server flags: {', '.join(server_only)}")
    if unknown:
        raise K3sConfigError(f"unknown k3s {role} flag(s): {', '.join(unknown)}; see `k3s {role} --help`")
    return config


def token_matches(stored: str, token: str) -> bool:
    """Does a server's stored token (/var/lib/rancher/k3s/server/token) hold this cluster token?

    k3s stores either the bare token or `K10<ca-hash>::server:<token>`.
    """
    stored = (stored or "").strip()
    if not stored:
        return True
    if "::" in stored:
        stored = stored.split("::", 1)[1]
        if ":" in stored:
            stored = stored.split(":", 1)[1]
    return stored == (token or "").strip()


def object_filename(obj, index: int) -> str:
    """`NN-kind-namespace-name.yaml` for a rendered object (namespace `cluster` when cluster-scoped)."""
    if not isinstance(obj, dict) or not obj.get("kind") or not (obj.get("metadata") or {}).get("name"):
        raise K3sConfigError(f"object #{index} needs kind and metadata.name")
    if not obj.get("apiVersion"):
        raise K3sConfigError(f"object #{index} ({obj['kind']} {obj['metadata']['name']}) needs apiVersion")
    meta = obj["metadata"]
    parts = [obj["kind"], meta.get("namespace") or "cluster", meta["name"]]
    parts = [_DNS_PART.sub("-", str(part).lower()) for part in parts]
    return f"{index:02d}-{'-'.join(parts)}.yaml"
