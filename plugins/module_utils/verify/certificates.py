# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The verify row "certificates": no certificate of k3s, the registry or Traefik ends soon.

Input is what ``certificate_expiry_info`` read on each host (k3s's certificates on servers
and agents, the registry's) and the Traefik default certificate's Secret from the API. Every
certificate with fewer than ``min_days`` days left is named with its host, end date and how to
renew it. Pure functions, stdlib only.

k3s (pkg/daemons/control/deps/deps.go, pkg/util/services/services.go at k3s-io/k3s): the
client and server certificates under ``<data-dir>/server/tls`` (and ``tls/etcd``) and the
agent's ``<data-dir>/agent/client-*.crt``/``serving-kubelet.crt`` are valid one year and are
renewed at k3s's start when within ``CertificateRenewDays`` (120 days in current k3s) of their
end, or by ``k3s certificate rotate`` (servers first, then agents); the CA certificates
(``*-ca.crt``) are valid ten years and never renewed by themselves (``k3s certificate
rotate-ca``).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import posixpath

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import (
    FAIL,
    OK,
    VerifyInputError,
    limited,
    make_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import task_error
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.x509_validity import (
    CertificateError,
    first_pem_certificate,
)

CHECK = "certificates"

RENEW_K3S_SERVER = (
    "renew: on each server in turn, `systemctl stop k3s && k3s certificate rotate && systemctl start k3s`, "
    "then the agents (`k3s-agent`), then playbooks/k3s.yml to fetch the new kubeconfig "
    "(a plain restart renews certificates within 120 days of their end)"
)
RENEW_K3S_AGENT = (
    "renew: after the servers, on this agent `systemctl stop k3s-agent && k3s certificate rotate && "
    "systemctl start k3s-agent` (a plain restart renews certificates within 120 days of their end)"
)
RENEW_K3S_CA = "a k3s CA certificate (ten years, never renewed by itself): rotate it with `k3s certificate rotate-ca`"
RENEW_REGISTRY = (
    "renew: rerun playbooks/registry.yml (role local_ca re-issues a certificate with fewer than "
    "local_ca_renew_days left)"
)
RENEW_TRAEFIK = (
    "renew: rerun playbooks/platform.yml --tags traefik (role local_ca re-issues a certificate with fewer than "
    "local_ca_renew_days left)"
)


def _parse_time(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def _advice(path: str, k3s_dir: str, server: bool) -> str:
    name = posixpath.basename(path)
    k3s_dir = k3s_dir.rstrip("/") + "/"
    if not path.startswith(k3s_dir):
        return RENEW_REGISTRY
    if name.endswith("-ca.crt") or name.endswith("-ca.nochain.crt"):
        return RENEW_K3S_CA
    return RENEW_K3S_SERVER if server else RENEW_K3S_AGENT


def _days_left(not_after: datetime.datetime, now: datetime.datetime) -> int:
    return int((not_after - now).total_seconds() // 86400)


def _judge(label: str, not_after: datetime.datetime, now: datetime.datetime, min_days: int, advice: str):
    """(problem line or None, days left)."""
    days = _days_left(not_after, now)
    if days >= min_days:
        return None, days
    state = f"EXPIRED {-days} days ago" if not_after <= now else f"{days} days left, less than {min_days}"
    return f"{label}: ends {not_after:%Y-%m-%d %H:%M} UTC ({state}); {advice}", days


def host_row(
    result, host: str, min_days: int, k3s_dir: str = "/var/lib/rancher/k3s", server: bool = False, now=None
) -> dict:
    """One row for the certificates ``certificate_expiry_info`` read on ``host``."""
    if int(min_days) < 1:
        raise VerifyInputError(f"min_days must be at least 1, got {min_days!r}")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    target = f"host {host}"
    error = task_error(result, expect="certificates")
    if error:
        return make_row(CHECK, target, FAIL, f"not checked: {error}")
    certificates = result.get("certificates") or []
    problems = []
    soonest = None
    for cert in certificates:
        try:
            not_after = _parse_time(cert["not_after"])
        except (KeyError, ValueError) as exc:
            raise VerifyInputError(f"a certificate entry needs not_after as YYYY-MM-DDTHH:MM:SSZ: {cert!r}") from exc
        subject = f" ({cert['subject']})" if cert.get("subject") else ""
        line, days = _judge(
            f"{cert['path']}{subject}", not_after, now, int(min_days), _advice(cert["path"], k3s_dir, server)
        )
        if line:
            problems.append(line)
        if soonest is None or days < soonest[1]:
            soonest = (cert["path"], days, not_after)
    for item in result.get("errors") or []:
        problems.append(f"{item.get('path')}: not read: {item.get('msg')}")
    for pattern in result.get("unmatched") or []:
        problems.append(f"{pattern}: no certificate there (is the component installed on this host?)")
    if problems:
        return make_row(
            CHECK,
            target,
            FAIL,
            [f"{len(problems)} problem(s) among {len(certificates)} certificates", *limited(problems)],
        )
    if not certificates:
        return make_row(CHECK, target, FAIL, "no certificate read: nothing was asked of this host")
    path, days, not_after = soonest
    return make_row(
        CHECK,
        target,
        OK,
        f"{len(certificates)} certificates, at least {min_days} days left each; the first to end: "
        f"{path} on {not_after:%Y-%m-%d} ({days} days left)",
    )


def hosts_rows(
    results: dict, min_days: int, k3s_dir: str = "/var/lib/rancher/k3s", servers=None, now=None
) -> list[dict]:
    """One row per host: ``results`` maps host name to its registered certificate_expiry_info."""
    if not isinstance(results, dict):
        raise VerifyInputError("expected a mapping of host name to the registered certificate_expiry_info result")
    servers = set(servers or [])
    return [host_row(results[h], h, min_days, k3s_dir, h in servers, now) for h in sorted(results)]


def secret_row(result, min_days: int, now=None) -> dict:
    """The row for Traefik's default certificate, read from its Secret (k8s_info, one Secret)."""
    if int(min_days) < 1:
        raise VerifyInputError(f"min_days must be at least 1, got {min_days!r}")
    now = now or datetime.datetime.now(datetime.timezone.utc)
    error = task_error(result, expect="resources")
    resources = [] if error else result.get("resources") or []
    where = "Traefik's default certificate"
    if resources:
        meta = resources[0].get("metadata") or {}
        where = f"secret {meta.get('namespace')}/{meta.get('name')}"
    if error:
        return make_row(CHECK, where, FAIL, error)
    if not resources:
        return make_row(CHECK, where, FAIL, "the Secret does not exist: run playbooks/platform.yml --tags traefik")
    data = resources[0].get("data") or {}
    try:
        pem = base64.b64decode(data.get("tls.crt") or "", validate=True)
        cert = first_pem_certificate(pem)
    except (binascii.Error, ValueError, CertificateError) as exc:
        return make_row(CHECK, where, FAIL, f"tls.crt is not a certificate: {exc}; {RENEW_TRAEFIK}")
    subject = f" ({cert['subject']})" if cert["subject"] else ""
    line, days = _judge(f"tls.crt{subject}", cert["not_after"], now, int(min_days), RENEW_TRAEFIK)
    if line:
        return make_row(CHECK, where, FAIL, line)
    return make_row(CHECK, where, OK, f"tls.crt{subject} ends {cert['not_after']:%Y-%m-%d} ({days} days left)")
