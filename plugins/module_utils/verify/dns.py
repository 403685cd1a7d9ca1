# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The verify row "dns": every local domain resolves to its address, on a node and in a pod."""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.hosts_entries import build_hosts_entries
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import (
    FAIL,
    OK,
    VerifyInputError,
    limited,
    make_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import (
    item_of,
    results_of,
    task_error,
)


def expected_addresses(entries) -> dict:
    """{domain: address} from the hosts_entries list ([{address, names}])."""
    if not isinstance(entries, list):
        raise VerifyInputError("expected the list hosts_entries returns ([{address, names}])")
    out = {}
    for entry in entries:
        if not isinstance(entry, dict) or "address" not in entry or not isinstance(entry.get("names"), list):
            raise VerifyInputError(f"hosts entry {entry!r} needs an address and a list of names")
        for name in entry["names"]:
            out[str(name).lower().rstrip(".")] = str(entry["address"])
    return out


def expected_from_services(services: dict, ingress_address: str, direct: dict | None = None) -> dict:
    """{domain: address} from the inventory's domain map, as /etc/hosts and CoreDNS get it."""
    return expected_addresses(build_hosts_entries(services, ingress_address, direct))


def parse_getent(stdout: str) -> list[str]:
    """Addresses from ``getent ahostsv4`` (or ``getent hosts``) output, in order, each once."""
    addresses = []
    for line in str(stdout or "").splitlines():
        fields = line.split()
        if fields and fields[0] not in addresses:
            addresses.append(fields[0])
    return addresses


def _lookup_problem(domain: str, result: dict | None, want: str) -> str | None:
    if result is None:
        return f"{domain}: not looked up"
    error = task_error(result, expect="rc")
    if error:
        if "executable file not found" in error or "no such file or directory" in error.lower():
            return f"{domain}: the container has no getent ({error}); pick another pod in verify_dns_pod_candidates"
        return f"{domain}: lookup failed: {error}"
    rc = result.get("rc")
    if rc == 2:
        return f"{domain}: does not resolve, expected {want}"
    if rc != 0:
        stderr = str(result.get("stderr") or "").strip()
        return f"{domain}: getent exited {rc}{': ' + stderr if stderr else ''}"
    got = parse_getent(result.get("stdout", ""))
    if not got:
        return f"{domain}: no address in the answer, expected {want}"
    if got == [want]:
        return None
    if want in got:
        return f"{domain}: resolves to {', '.join(got)}; expected only {want} (clients may pick the wrong one)"
    return f"{domain}: resolves to {', '.join(got)}, expected {want}"


def dns_row(lookups, entries, target: str, reach=None, check: str = "dns") -> dict:
    """One row for the answers of one resolver (a node or a pod) to every local domain.

    lookups: the registered loop of ``getent ahostsv4 <domain>`` (command or k8s_exec), the
    loop item being the domain (or a dict with ``domain``); entries: what hosts_entries
    returns; reach: a registered ping/pod choice whose error means nothing was asked.
    """
    expected = expected_addresses(entries)
    if reach is not None:
        error = task_error(reach, expect="ping")
        if error:
            return make_row(check, target, FAIL, f"not checked: {error}")
    by_domain = {}
    for result in results_of(lookups):
        item = item_of(result)
        domain = item.get("domain") if isinstance(item, dict) else item
        if domain is not None:
            by_domain[str(domain).lower().rstrip(".")] = result
    if not by_domain:
        error = task_error(lookups) if isinstance(lookups, dict) else None
        return make_row(check, target, FAIL, f"no lookups ran: {error or 'nothing was registered'}")
    problems = [
        p
        for p in (_lookup_problem(domain, by_domain.get(domain), want) for domain, want in sorted(expected.items()))
        if p
    ]
    if not problems:
        return make_row(check, target, OK, f"{len(expected)} names resolve to the expected addresses")
    return make_row(check, target, FAIL, [f"{len(problems)} of {len(expected)} names wrong", *limited(problems)])


def _pod_ready(pod: dict, container: str | None) -> bool:
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    statuses = status.get("containerStatuses") or []
    if container:
        return any(cs.get("name") == container and cs.get("ready") for cs in statuses)
    return bool(statuses) and all(cs.get("ready") for cs in statuses)


def pick_pod(candidates) -> dict:
    """The first running pod among the candidates to resolve names from inside the cluster.

    candidates: the registered loop of kubernetes.core.k8s_info, one item per candidate
    ``{namespace, label_selector, container}``. Returns ``{namespace, pod, container,
    target}``, or ``{reason, failed}`` when no candidate has a running pod (``failed`` when
    the cluster could not be asked at all, rather than having no such pod).
    """
    tried = []
    errors = []
    for result in results_of(candidates):
        item = item_of(result) or {}
        if not isinstance(item, dict):
            raise VerifyInputError(f"a pod candidate must be a mapping with namespace and label_selector, got {item!r}")
        where = f"{item.get('namespace')} ({item.get('label_selector')})"
        error = task_error(result, expect="resources")
        if error:
            errors.append(error)
            tried.append(f"{where}: {error}")
            continue
        container = item.get("container")
        pods = sorted(result.get("resources") or [], key=lambda p: (p.get("metadata") or {}).get("name", ""))
        for pod in pods:
            if _pod_ready(pod, container):
                meta = pod["metadata"]
                return {
                    "namespace": meta.get("namespace") or item.get("namespace"),
                    "pod": meta["name"],
                    "container": container or "",
                    "target": f"pod {meta.get('namespace') or item.get('namespace')}/{meta['name']}",
                }
        tried.append(f"{where}: no running pod")
    if not tried:
        return {"reason": "no pod candidates configured (verify_dns_pod_candidates is empty)", "failed": False}
    if errors and len(errors) == len(tried):
        # The cluster could not be asked at all: that is a failure, not a reason to skip.
        if len(set(errors)) == 1:
            return {"reason": f"cannot list pods: {errors[0]}", "failed": True}
        return {"reason": "cannot list pods: " + "; ".join(tried), "failed": True}
    return {"reason": "no running pod to resolve from: " + "; ".join(tried), "failed": False}
