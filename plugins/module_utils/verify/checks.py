# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The decisions of the post-install check (playbooks/verify.yml).

Every function takes what an Ansible task registered (a ``uri``, ``kubernetes.core``
or ``command`` result, often with ``failed_when: false``) or an API payload, and
returns result rows::

    {"check": "pods", "target": "all namespaces", "result": "FAIL",
     "detail": ["2 of 57 pods not Ready", "gitea/gitea-0: Pending: ..."]}

``result`` is ``OK``, ``FAIL`` or ``SKIP``; ``detail`` is a list of lines, the
first one a summary. ``render_table`` turns the rows into the table the playbook
prints. Pure functions, stdlib only, no network: the playbook does the talking.
"""

from __future__ import annotations

import datetime
import json
import math
import re

from ansible_collections.gauntlet.platform.plugins.module_utils.hosts_entries import build_hosts_entries
from ansible_collections.gauntlet.platform.plugins.module_utils.jwt_compact import JwtFormatError, decode_compact

OK = "OK"
FAIL = "FAIL"
SKIP = "SKIP"
RESULTS = (OK, FAIL, SKIP)

# How many problem lines a row lists before "... and N more".
MAX_DETAIL_LINES = 20


class VerifyInputError(ValueError):
    """A check was handed something that is not the payload it expects."""


# -- rows ------------------------------------------------------------------------------


def make_row(check: str, target: str, result: str, detail=None) -> dict:
    """One table row; ``detail`` is a string or a list of lines (empty lines dropped)."""
    if result not in RESULTS:
        raise VerifyInputError(f"result must be one of {', '.join(RESULTS)}, got {result!r}")
    if detail is None:
        lines = []
    elif isinstance(detail, str):
        lines = detail.splitlines()
    elif isinstance(detail, list | tuple):
        lines = [line for item in detail for line in str(item).splitlines()]
    else:
        raise VerifyInputError(f"detail must be a string or a list of lines, got {type(detail).__name__}")
    return {"check": str(check), "target": str(target), "result": result, "detail": [ln for ln in lines if ln.strip()]}


def _limited(problems: list[str], limit: int = MAX_DETAIL_LINES) -> list[str]:
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], f"... and {len(problems) - limit} more"]


# -- task results ----------------------------------------------------------------------

_RESOLVE_ERRORS = (
    "Name or service not known",
    "nodename nor servname",
    "Temporary failure in name resolution",
    "No address associated with hostname",
    "getaddrinfo failed",
)


def _hint(msg: str) -> str:
    """A next step for the errors users meet most often."""
    if any(marker in msg for marker in _RESOLVE_ERRORS):
        return (
            "the controller cannot resolve this name: set local_domains_manage_controller: true and run "
            "playbooks/hosts.yml --tags local_domains, or add the local domains to the controller's /etc/hosts"
        )
    if "CERTIFICATE_VERIFY_FAILED" in msg or "certificate verify failed" in msg:
        return "the certificate is not signed by the local CA (gauntlet_ca_cert) or not valid for this name"
    if "No such file or directory" in msg and "kubeconfig" not in msg:
        return (
            "a file the request needs is missing: is the local CA there (verify_ca_file, by default gauntlet_ca_cert)?"
        )
    if "Connection refused" in msg:
        return "nothing listens there: is the service (or Traefik) running?"
    if "timed out" in msg or "Timeout" in msg:
        return "no answer in time: check the address, firewalls and that the service is up"
    if "kubeconfig" in msg.lower() or "Invalid kube-config" in msg or "Failed to get client" in msg:
        return "the cluster cannot be reached with the kubeconfig: run the k3s stage or set gauntlet_kubeconfig"
    return ""


_NOISE = (
    # uri: "Status code was -1 and not [200]: Request failed: <urlopen error ...>"
    re.compile(r"^Status code was -?\d+ and not \[[^\]]*\]: "),
    re.compile(r"^Request failed: "),
    re.compile(r"^Task failed: "),
    # The file lookup's advice about remote_src, irrelevant on the controller.
    re.compile(
        r"\s*If you are using a module and expect the file to exist on the remote, see the remote_src option\.?"
    ),
)


def _clean_msg(msg: str) -> str:
    """One line without the wrappers Ansible and uri put around the real error."""
    msg = str(msg).strip()
    for pattern in _NOISE:
        msg = pattern.sub("", msg).strip()
    # url[o]pen: the same text, spelled so that ansible-test's replace-urlopen check (which
    # refuses the word outside comments, with no ignore allowed) does not take it for a call.
    match = re.fullmatch(r"<url[o]pen error (.*)>", msg, re.S)
    if match:
        msg = match.group(1).strip()
    return "; ".join(line.strip() for line in msg.splitlines() if line.strip())


def task_error(result, expect: str | None = None) -> str | None:
    """The error of a registered task result, or None when it succeeded.

    ``failed_when: false`` hides failures from ``failed``, so success is also judged by
    ``expect``: the key a successful result has (``status`` of uri must then not be -1,
    ``resources`` of k8s_info, ``rc`` of command/k8s_exec, a module's own key).
    """
    if not isinstance(result, dict) or not result:
        return "the check did not run"
    msg = _clean_msg(result.get("msg") or result.get("exception") or "")
    if result.get("unreachable"):
        return f"host unreachable: {msg}" if msg else "host unreachable"
    if result.get("skipped"):
        reason = result.get("skip_reason") or result.get("false_condition") or ""
        return f"skipped{': ' + str(reason) if reason else ''}"
    if expect is None:
        broken = bool(result.get("failed"))
    else:
        # A result holding its success key succeeded, even when `failed` is set: an
        # `until` that waited in vain (pods never Ready) marks the last answer failed,
        # and that answer is exactly what the check judges.
        broken = expect not in result or (expect == "status" and result.get("status", -1) == -1)
    if not broken:
        return None
    msg = msg or "failed without a message"
    hint = _hint(msg)
    return f"{msg} ({hint})" if hint else msg


def _json_body(result) -> object:
    """The JSON a uri task got back (``json``, else ``content`` parsed), or None."""
    if not isinstance(result, dict):
        return None
    if result.get("json") is not None:
        return result["json"]
    content = result.get("content")
    if isinstance(content, str) and content.strip():
        try:
            return json.loads(content)
        except ValueError:
            return None
    return None


def _results_of(registered) -> list:
    """The item results of a registered loop (or a plain list of them)."""
    if isinstance(registered, dict):
        if "results" in registered:
            return list(registered["results"] or [])
        return []
    if isinstance(registered, list):
        return registered
    if registered is None:
        return []
    raise VerifyInputError(f"expected a registered loop result, got {type(registered).__name__}")


def _item_of(result: dict):
    if not isinstance(result, dict):
        return None
    return result.get(result.get("ansible_loop_var", "item"))


# -- 1. DNS ----------------------------------------------------------------------------


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
    for result in _results_of(lookups):
        item = _item_of(result)
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
    return make_row(check, target, FAIL, [f"{len(problems)} of {len(expected)} names wrong", *_limited(problems)])


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
    for result in _results_of(candidates):
        item = _item_of(result) or {}
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


# -- 2. TLS ----------------------------------------------------------------------------


def tls_targets(services: dict, entries, ports: dict | None = None, paths: dict | None = None) -> list[dict]:
    """Every local domain with the address it should resolve to, its port and the URL to ask."""
    if not isinstance(services, dict) or not services:
        raise VerifyInputError("expected local_domains_services, a mapping of service to domain")
    expected = expected_addresses(entries)
    ports = ports or {}
    paths = paths or {}
    targets = []
    for service in sorted(services):
        domain = str(services[service]).lower().rstrip(".")
        port = int(ports.get(service, 443))
        path = str(paths.get(service, "/"))
        if not path.startswith("/"):
            path = "/" + path
        authority = domain if port == 443 else f"{domain}:{port}"
        targets.append(
            {
                "service": service,
                "domain": domain,
                "address": expected.get(domain, ""),
                "port": port,
                "url": f"https://{authority}{path}",
            }
        )
    return targets


def _parse_asn1_time(value: str) -> datetime.datetime | None:
    for fmt in ("%Y%m%d%H%M%SZ", "%Y%m%d%H%M%S%z"):
        try:
            parsed = datetime.datetime.strptime(str(value), fmt)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    return None


def tls_rows(requests, certificates=None, min_days: int = 14, now: datetime.datetime | None = None) -> list[dict]:
    """One row per domain: the HTTPS answer (uri validates chain and name) and the certificate's lifetime.

    requests: registered uri loop, item = a tls_targets entry; certificates: registered
    community.crypto.get_certificate loop over the same items (optional).
    """
    now = now or datetime.datetime.now(datetime.UTC)
    certs = {}
    for result in _results_of(certificates):
        item = _item_of(result)
        if isinstance(item, dict):
            certs[item.get("url")] = result
    rows = []
    for result in _results_of(requests):
        item = _item_of(result)
        if not isinstance(item, dict) or "url" not in item:
            raise VerifyInputError(f"a TLS check item must be a tls_targets entry, got {item!r}")
        target = item["url"]
        error = task_error(result, expect="status")
        if error:
            rows.append(make_row("tls", target, FAIL, error))
            continue
        status = int(result["status"])
        detail = [f"HTTP {status}"]
        bad = status >= 500
        if bad:
            detail[0] += " (server error behind the ingress: is the service running?)"
        cert = certs.get(item["url"])
        if cert is not None:
            cert_error = task_error(cert, expect="not_after")
            if cert_error:
                bad = True
                detail.append(f"certificate not read: {cert_error}")
            else:
                not_after = _parse_asn1_time(cert.get("not_after"))
                if not_after is None:
                    detail.append(f"certificate end date unreadable: {cert.get('not_after')!r}")
                else:
                    days = (not_after - now).days
                    text = f"certificate valid until {not_after:%Y-%m-%d} ({days} days left)"
                    if cert.get("expired") or days < min_days:
                        bad = True
                        text += f"; renew it: less than {min_days} days left"
                    detail.append(text)
        rows.append(make_row("tls", target, FAIL if bad else OK, "; ".join(detail)))
    if not rows:
        rows.append(make_row("tls", "local domains", FAIL, "no HTTPS request ran"))
    return rows


# -- 3. registry -----------------------------------------------------------------------


def registry_row(result, registry: str) -> dict:
    """The registry_inventory_info answer: every image of the bundle lock with its digest."""
    error = task_error(result, expect="images")
    if error:
        return make_row("registry", registry, FAIL, error)
    images = result.get("images") or []
    if not images:
        return make_row("registry", registry, FAIL, "the bundle lock lists no image: rebuild the bundle")
    problems = []
    for image in images:
        status = image.get("status")
        if status == "present":
            continue
        if status == "missing":
            problems.append(f"{image.get('name')}: digest {image.get('digest')} not in the registry")
        elif status == "tag_mismatch":
            tag_digest = image.get("tag_digest") or "nothing"
            problems.append(
                f"{image.get('name')}: the tag points to {tag_digest}, the bundle has {image.get('digest')}"
            )
        else:
            problems.append(f"{image.get('name')}: {status}")
    if not problems:
        return make_row("registry", registry, OK, f"all {len(images)} images of the bundle lock present")
    return make_row(
        "registry",
        registry,
        FAIL,
        [
            f"{len(problems)} of {len(images)} images wrong: rerun playbooks/preload.yml",
            *_limited(problems),
        ],
    )


# -- 4. pods ---------------------------------------------------------------------------


def _job_succeeded(job: dict) -> bool:
    status = job.get("status") or {}
    if (status.get("succeeded") or 0) > 0:
        return True
    return any(c.get("type") == "Complete" and c.get("status") == "True" for c in status.get("conditions") or [])


def _container_reason(cs: dict) -> str:
    state = cs.get("state") or {}
    restarts = cs.get("restartCount") or 0
    suffix = f", {restarts} restarts" if restarts else ""
    if "waiting" in state:
        waiting = state["waiting"] or {}
        reason = waiting.get("reason") or "waiting"
        message = waiting.get("message")
        return f"{cs.get('name')}: {reason}{': ' + message if message else ''}{suffix}"
    if "terminated" in state:
        term = state["terminated"] or {}
        return f"{cs.get('name')}: terminated ({term.get('reason') or 'exit ' + str(term.get('exitCode'))}){suffix}"
    return f"{cs.get('name')}: running, not ready{suffix}"


def pod_problems(pods, jobs=None, ignore=None) -> list[str]:
    """``namespace/pod: why`` for every pod that should be Ready and is not.

    Succeeded pods are fine; a Failed pod of a Job that later succeeded is history; pods
    being deleted are going away. ``ignore`` holds regular expressions matched against
    ``namespace/name``.
    """
    if not isinstance(pods, list):
        raise VerifyInputError("expected the list of Pod objects (k8s_info resources)")
    patterns = [re.compile(p) for p in (ignore or [])]
    succeeded_jobs = {
        ((j.get("metadata") or {}).get("namespace"), (j.get("metadata") or {}).get("name"))
        for j in jobs or []
        if _job_succeeded(j)
    }
    problems = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        name = f"{meta.get('namespace')}/{meta.get('name')}"
        if meta.get("deletionTimestamp") or any(p.search(name) for p in patterns):
            continue
        phase = status.get("phase") or "Unknown"
        if phase == "Succeeded":
            continue
        owners = meta.get("ownerReferences") or []
        job = next((o.get("name") for o in owners if o.get("kind") == "Job"), None)
        if phase == "Failed":
            if job and (meta.get("namespace"), job) in succeeded_jobs:
                continue
            why = status.get("reason") or "Failed"
            message = status.get("message")
            failed = [
                _container_reason(cs)
                for cs in status.get("containerStatuses") or []
                if ((cs.get("state") or {}).get("terminated") or {}).get("exitCode") not in (0, None)
            ]
            owner = f" (Job {job} has not succeeded)" if job else ""
            text = f"{name}: {why}{owner}{': ' + message if message else ''}"
            problems.append("; ".join([text, *failed]))
            continue
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        if phase == "Running" and (conditions.get("Ready") or {}).get("status") == "True":
            continue
        reasons = [
            _container_reason(cs)
            for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
            if not cs.get("ready") and ((cs.get("state") or {}).get("terminated") or {}).get("exitCode") != 0
        ]
        scheduled = conditions.get("PodScheduled") or {}
        if scheduled.get("status") == "False":
            reasons.insert(0, f"{scheduled.get('reason') or 'not scheduled'}: {scheduled.get('message') or ''}".strip())
        if phase == "Unknown":
            reasons.insert(0, "its node does not report (node down?)")
        if not reasons:
            ready = conditions.get("Ready") or {}
            reasons.append(ready.get("message") or ready.get("reason") or "not Ready")
        problems.append(f"{name}: {phase}: " + "; ".join(reasons))
    return sorted(problems)


def pods_row(pods_result, jobs_result=None, ignore=None) -> dict:
    """Every pod of every namespace Ready (or completed)."""
    error = task_error(pods_result, expect="resources")
    if error:
        return make_row("pods", "all namespaces", FAIL, error)
    pods = pods_result.get("resources") or []
    jobs = []
    if jobs_result is not None and not task_error(jobs_result, expect="resources"):
        jobs = jobs_result.get("resources") or []
    if not pods:
        return make_row("pods", "all namespaces", FAIL, "the cluster runs no pod at all")
    problems = pod_problems(pods, jobs, ignore)
    completed = sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Succeeded")
    if not problems:
        extra = f" ({completed} completed)" if completed else ""
        return make_row("pods", "all namespaces", OK, f"{len(pods)} pods Ready or completed{extra}")
    return make_row(
        "pods", "all namespaces", FAIL, [f"{len(problems)} of {len(pods)} pods not Ready", *_limited(problems)]
    )


# -- 5. Argo CD ------------------------------------------------------------------------


def argocd_app_row(result, name: str, namespace: str = "argocd") -> dict:
    """The Application is Synced and Healthy; otherwise say which resources are not."""
    target = f"{namespace}/{name}"
    error = task_error(result, expect="resources")
    if error:
        if "Failed to find exact match" in error or "could not find the requested resource" in error:
            error = "the Application kind is unknown: Argo CD is not installed (run the platform stage, tag argocd)"
        return make_row("argocd", target, FAIL, error)
    apps = result.get("resources") or []
    if not apps:
        return make_row("argocd", target, FAIL, "the Application does not exist: run the platform stage, tag argocd")
    status = apps[0].get("status") or {}
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    health = status.get("health") or {}
    health_status = health.get("status") or "Unknown"
    revision = str((status.get("sync") or {}).get("revision") or "")[:12]
    if sync == "Synced" and health_status == "Healthy":
        return make_row("argocd", target, OK, f"Synced{' to ' + revision if revision else ''}, Healthy")
    lines = [f"sync {sync}, health {health_status}{': ' + health['message'] if health.get('message') else ''}"]
    for condition in status.get("conditions") or []:
        lines.append(f"{condition.get('type')}: {condition.get('message')}")
    operation = status.get("operationState") or {}
    if operation.get("phase") and operation.get("phase") != "Succeeded":
        lines.append(f"last sync {operation['phase']}: {operation.get('message') or ''}".strip())
    bad = []
    for res in status.get("resources") or []:
        res_health = (res.get("health") or {}).get("status")
        if res.get("status") not in (None, "Synced") or res_health not in (None, "Healthy"):
            where = f"{res.get('kind')} {res.get('namespace') + '/' if res.get('namespace') else ''}{res.get('name')}"
            message = (res.get("health") or {}).get("message")
            bad.append(f"{where}: {res.get('status') or '-'}, {res_health or '-'}{': ' + message if message else ''}")
    return make_row("argocd", target, FAIL, lines + _limited(bad))


# -- 5b. The image the Task API runs ---------------------------------------------------

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def _split_image(image: str) -> tuple[str, str, str]:
    """(repository with registry, tag, digest) of ``repo[:tag][@sha256:..]``; missing parts empty."""
    name, _sep, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def deployed_image_row(
    pods_result,
    deployment_result,
    pushes_result=None,
    container: str = "task-api",
    target: str = "task-api",
    push_account: str = "",
) -> dict:
    """Which image the pods run (spec image and status imageID digest), and that it is the one
    gitops deploys (the Deployment Argo CD applied from gitops: the promoter writes
    ``<tag>@sha256:...``) and, when ``pushes_result`` is given, the one the registry recorded for
    that tag (the token server's ``GET /pushes``: exactly one push, by ``push_account``)."""
    for result, what in ((deployment_result, "Deployment"), (pods_result, "pods")):
        error = task_error(result, expect="resources")
        if error:
            return make_row("deployed", target, FAIL, f"reading the {what}: {error}")
    deployments = deployment_result.get("resources") or []
    if not deployments:
        return make_row("deployed", target, FAIL, "the Deployment does not exist: Argo CD has not synced gitops yet")
    spec_containers = ((deployments[0].get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    wanted = next((c.get("image") for c in spec_containers if c.get("name") == container), None)
    if not wanted:
        return make_row("deployed", target, FAIL, f"the Deployment has no container {container!r}")
    repository, tag, digest = _split_image(wanted)
    lines = [f"gitops deploys {wanted}"]
    problems = []
    if not _DIGEST.fullmatch(digest or ""):
        problems.append(
            f"gitops names {repository}:{tag} without a digest: no build was promoted yet "
            "(the promoter writes <tag>@sha256:..., docs/drone.md)"
        )
    running = []
    for pod in pods_result.get("resources") or []:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp") or (pod.get("status") or {}).get("phase") != "Running":
            continue
        name = meta.get("name", "?")
        status = next(
            (c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c.get("name") == container), None
        )
        spec_image = next(
            (c.get("image") for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == container), ""
        )
        image_id = (status or {}).get("imageID") or ""
        found = _DIGEST.search(image_id)
        running.append(name)
        lines.append(f"{name} runs {spec_image or '?'} (imageID {image_id or 'not reported'})")
        if spec_image != wanted:
            problems.append(f"{name} runs {spec_image or 'no such container'}, not {wanted}: rollout not finished")
        elif not found:
            problems.append(f"{name}: the kubelet reports no image digest (imageID {image_id or 'empty'})")
        elif digest and found.group(0) != digest:
            problems.append(f"{name} runs digest {found.group(0)}, gitops names {digest}")
    if not running:
        problems.append(f"no Running pod of {target}")
    if pushes_result is not None:
        error = task_error(pushes_result, expect="status")
        if not error and pushes_result.get("status") != 200:
            error = f"answered {pushes_result.get('status')}: {_json_body(pushes_result) or pushes_result.get('msg')}"
        pushes = ((pushes_result.get("json") or {}).get("pushes") if not error else None) or []
        if error:
            problems.append(f"the registry's push record (GET /pushes): {error}")
        elif len(pushes) != 1:
            said = "; ".join(f"{p.get('digest')} by {p.get('account')} at {p.get('time')}" for p in pushes) or "none"
            problems.append(f"the registry recorded {len(pushes)} pushes of {repository}:{tag}, not one: {said}")
        else:
            (push,) = pushes
            lines.append(f"the registry recorded one push of :{tag}: {push.get('digest')} by {push.get('account')}")
            if digest and push.get("digest") != digest:
                problems.append(f"the last build pushed {push.get('digest')} as :{tag}, gitops names {digest}")
            if push_account and push.get("account") != push_account:
                problems.append(f":{tag} was pushed by {push.get('account')}, not the CI account {push_account}")
    else:
        lines.append("push record not checked (needs HTTPS to the registry's token server)")
    if problems:
        return make_row("deployed", target, FAIL, _limited(problems) + lines)
    return make_row("deployed", target, OK, [f"{len(running)} pod(s) run {repository}:{tag}@{digest}", *lines[1:]])


# -- 6. Drone --------------------------------------------------------------------------


def drone_repo_row(result, slug: str, config_path: str = "") -> dict:
    """GET /api/repos/<slug> answers the repository, active, with the expected pipeline path."""
    error = task_error(result, expect="status")
    if error:
        return make_row("drone", slug, FAIL, error)
    status = int(result["status"])
    if status == 401 or status == 403:
        return make_row(
            "drone", slug, FAIL, f"HTTP {status}: the admin token (credential drone/admin-token) was refused"
        )
    if status == 404:
        return make_row(
            "drone", slug, FAIL, "HTTP 404: Drone does not know the repository: sync and activate it (drone role)"
        )
    if status != 200:
        return make_row("drone", slug, FAIL, f"HTTP {status}")
    repo = _json_body(result)
    if not isinstance(repo, dict):
        return make_row("drone", slug, FAIL, "HTTP 200 but the answer is not a JSON repository")
    problems = []
    if repo.get("active") is not True:
        problems.append("the repository is not active: pushes do not build")
    if config_path and repo.get("config_path") != config_path:
        problems.append(f"pipeline path is {repo.get('config_path')!r}, expected {config_path!r}")
    if problems:
        return make_row("drone", slug, FAIL, problems)
    detail = "active"
    if repo.get("config_path"):
        detail += f", pipeline {repo['config_path']}"
    return make_row("drone", slug, OK, detail)


# -- 7. Keycloak and the Task API ---------------------------------------------------------


def jwt_parts(token: str) -> tuple[dict, dict]:
    """(header, claims) of a compact JWS, without verifying anything (module_utils.jwt_compact)."""
    try:
        return decode_compact(token)
    except JwtFormatError as exc:
        raise VerifyInputError(str(exc)) from exc


def keycloak_token_row(result, issuer: str, audience: str, target: str) -> dict:
    """The password grant returned a Bearer access token for the expected issuer and audience."""
    error = task_error(result, expect="status")
    if error:
        return make_row("keycloak", target, FAIL, error)
    body = _json_body(result)
    status = int(result["status"])
    if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        why = ""
        if isinstance(body, dict) and body.get("error"):
            why = f": {body['error']}{' (' + body['error_description'] + ')' if body.get('error_description') else ''}"
        hint = ""
        if isinstance(body, dict) and body.get("error") in ("invalid_grant", "invalid_client", "unauthorized_client"):
            hint = "; check the test user, its password credential and that the client allows direct access grants"
        return make_row("keycloak", target, FAIL, f"HTTP {status}, no access token{why}{hint}")
    try:
        _header, claims = jwt_parts(body["access_token"])
    except VerifyInputError as exc:
        return make_row("keycloak", target, FAIL, f"the access token is unreadable: {exc}")
    problems = []
    if str(body.get("token_type", "")).lower() != "bearer":
        problems.append(f"token_type is {body.get('token_type')!r}, expected Bearer")
    if claims.get("iss") != issuer:
        problems.append(f"issuer is {claims.get('iss')!r}, the Task API expects {issuer!r}")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        problems.append(f"audience is {aud!r}, the Task API expects {audience!r} (add an audience mapper)")
    if problems:
        return make_row("keycloak", target, FAIL, problems)
    return make_row(
        "keycloak",
        target,
        OK,
        f"access token for {claims.get('preferred_username') or claims.get('sub')}, aud {audience}",
    )


_STATUS_MEANING = {
    200: "OK",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    502: "bad gateway (the backend is down)",
    503: "unavailable (the database is down?)",
}


def http_status_row(result, check: str, target: str, expected, what: str = "") -> dict:
    """OK when the HTTP status is one of ``expected``; ``what`` says what the answer proves."""
    wanted = [int(s) for s in (expected if isinstance(expected, list | tuple) else [expected])]
    error = task_error(result, expect="status")
    if error:
        return make_row(check, target, FAIL, error)
    status = int(result["status"])
    meaning = _STATUS_MEANING.get(status, "")
    got = f"HTTP {status}{' ' + meaning if meaning else ''}"
    if status in wanted:
        return make_row(check, target, OK, f"{got}{': ' + what if what else ''}")
    expect_text = " or ".join(str(s) for s in wanted)
    return make_row(check, target, FAIL, f"{got}, expected {expect_text}{': ' + what if what else ''}")


# -- 8. Linkerd ------------------------------------------------------------------------


def _prometheus_data(result, what: str) -> tuple[object, str | None]:
    """(data, error) of a Prometheus HTTP API answer fetched with uri."""
    error = task_error(result, expect="status")
    if error:
        return None, error
    status = int(result["status"])
    body = _json_body(result)
    if status in (401, 403):
        return None, f"HTTP {status} from Prometheus: set verify_prometheus_username and its password credential"
    if not isinstance(body, dict):
        return None, f"HTTP {status}: the answer to {what} is not Prometheus JSON"
    if body.get("status") != "success":
        return None, f"HTTP {status}: {body.get('errorType', 'error')}: {body.get('error', 'no detail')}"
    return body.get("data"), None


def linkerd_edges_row(result, namespaces, target: str = "meshed namespaces") -> dict:
    """Every edge between meshed namespaces carries mTLS.

    result: uri of /api/v1/query with a vector whose series carry ``namespace``,
    ``deployment``, ``dst_namespace``, ``dst_deployment`` and ``tls`` and whose value is a
    rate. Edges with a zero rate are ignored; an edge is mTLS when all its traffic has
    ``tls="true"``.
    """
    data, error = _prometheus_data(result, "the Linkerd query")
    if error:
        return make_row("linkerd", target, FAIL, error)
    if not isinstance(data, dict) or data.get("resultType") != "vector":
        return make_row("linkerd", target, FAIL, "the query must return an instant vector (resultType vector)")
    meshed = set(namespaces or [])
    edges: dict[tuple, dict] = {}
    for series in data.get("result") or []:
        metric = series.get("metric") or {}
        try:
            value = float((series.get("value") or [0, "0"])[1])
        except (TypeError, ValueError, IndexError):
            continue
        if value <= 0 or math.isnan(value):
            continue
        src_ns, dst_ns = metric.get("namespace"), metric.get("dst_namespace")
        if src_ns not in meshed or dst_ns not in meshed:
            continue
        key = (src_ns, metric.get("deployment") or "?", dst_ns, metric.get("dst_deployment") or "?")
        edge = edges.setdefault(key, {"tls": 0.0, "plain": 0.0, "kinds": set()})
        if metric.get("tls") == "true":
            edge["tls"] += value
        else:
            edge["plain"] += value
            edge["kinds"].add(metric.get("tls") or "missing")
    if not edges:
        return make_row(
            "linkerd",
            target,
            FAIL,
            [
                f"no traffic between meshed namespaces ({', '.join(sorted(meshed))}) in the query window",
                "does Prometheus scrape the Linkerd proxies (set verify_linkerd_prometheus_url to the one that does)?",
            ],
        )
    plain = [
        f"{k[0]}/{k[1]} -> {k[2]}/{k[3]}: {e['plain']:.3g}/s without mTLS (tls={','.join(sorted(e['kinds']))})"
        for k, e in sorted(edges.items())
        if e["plain"] > 0
    ]
    if plain:
        return make_row("linkerd", target, FAIL, [f"{len(plain)} of {len(edges)} edges not mTLS", *_limited(plain)])
    return make_row("linkerd", target, OK, f"{len(edges)} edges, all mTLS")


# -- 9. Prometheus ---------------------------------------------------------------------


def prometheus_targets_row(result, target: str = "targets") -> dict:
    """Every active target is up; the down ones with their scrape URL and last error."""
    data, error = _prometheus_data(result, "/api/v1/targets")
    if error:
        return make_row("prometheus", target, FAIL, error)
    active = (data or {}).get("activeTargets") or []
    if not active:
        return make_row("prometheus", target, FAIL, "Prometheus has no active target: are the ServiceMonitors applied?")
    down = []
    for t in active:
        health = t.get("health")
        if health == "up":
            continue
        job = t.get("scrapePool") or (t.get("labels") or {}).get("job") or "?"
        why = t.get("lastError") or ("not scraped yet" if health == "unknown" else "")
        down.append(f"{job} {t.get('scrapeUrl') or ''}: {health}{': ' + why if why else ''}")
    if down:
        return make_row(
            "prometheus", target, FAIL, [f"{len(down)} of {len(active)} targets not up", *_limited(sorted(down))]
        )
    return make_row("prometheus", target, OK, f"{len(active)} active targets up")


def prometheus_rules_row(result, group_pattern: str = "^gauntlet", target: str = "rules") -> dict:
    """The gauntlet rule groups are loaded and no rule is in error."""
    data, error = _prometheus_data(result, "/api/v1/rules")
    if error:
        return make_row("prometheus", target, FAIL, error)
    groups = (data or {}).get("groups") or []
    pattern = re.compile(group_pattern)
    ours = [g for g in groups if pattern.search(str(g.get("name", "")))]
    rules = [r for g in groups for r in g.get("rules") or []]
    broken = sorted(
        f"{g.get('name')}/{r.get('name')}: {r.get('lastError') or 'health ' + str(r.get('health'))}"
        for g in groups
        for r in g.get("rules") or []
        if r.get("health") not in ("ok", "unknown", None)
    )
    problems = []
    if not ours:
        problems.append(
            f"no rule group matches {group_pattern!r} among {len(groups)} groups: are the PrometheusRules applied?"
        )
    problems += broken
    if problems:
        return make_row("prometheus", target, FAIL, _limited(problems))
    return make_row(
        "prometheus",
        target,
        OK,
        f"{len(ours)} gauntlet groups ({len(groups)} groups, {len(rules)} rules), none in error",
    )


# -- 10. Grafana -----------------------------------------------------------------------


def grafana_datasource_rows(list_result, health_results, proxy_paths=None, target: str = "grafana") -> list[dict]:
    """One row per datasource: its health check answers OK.

    health_results: the registered loop over the datasources of the list. A datasource
    whose type is in ``proxy_paths`` ({type: path}) was asked ``path`` through Grafana's
    datasource proxy (/api/datasources/proxy/uid/<uid><path>) and is healthy on HTTP 200
    with a JSON object; any other was asked /api/datasources/uid/<uid>/health, which only
    types with a backend plugin answer (Grafana's Alertmanager datasource is frontend-only:
    its plugin.json has no backend, and /health answers 404 "Plugin not found").
    """
    proxy_paths = proxy_paths or {}
    if not isinstance(proxy_paths, dict):
        raise VerifyInputError("proxy_paths must map a datasource type to a path, e.g. {alertmanager: /api/v2/status}")
    error = task_error(list_result, expect="status")
    if not error and int(list_result["status"]) != 200:
        status = int(list_result["status"])
        error = f"HTTP {status}" + (
            ": the admin password (credential monitoring/grafana-admin-password) was refused" if status == 401 else ""
        )
    if error:
        return [make_row("grafana", f"{target} datasources", FAIL, error)]
    sources = _json_body(list_result)
    if not isinstance(sources, list) or not sources:
        return [make_row("grafana", f"{target} datasources", FAIL, "Grafana has no datasource")]
    by_uid = {}
    for result in _results_of(health_results):
        item = _item_of(result)
        if isinstance(item, dict):
            by_uid[item.get("uid")] = result
    rows = []
    for source in sorted(sources, key=lambda s: str(s.get("name"))):
        where = f"{target} datasource {source.get('name')} ({source.get('type')})"
        result = by_uid.get(source.get("uid"))
        if result is None:
            rows.append(make_row("grafana", where, FAIL, "health not checked"))
            continue
        error = task_error(result, expect="status")
        if error:
            rows.append(make_row("grafana", where, FAIL, error))
            continue
        body = _json_body(result)
        message = body.get("message") if isinstance(body, dict) else None
        status = int(result["status"])
        path = proxy_paths.get(source.get("type"))
        if path:
            healthy = status == 200 and isinstance(body, dict)
            detail = f"HTTP {status} from {path} through Grafana's datasource proxy"
            if status == 200 and not healthy:
                detail += ": the answer is not JSON (not the datasource's API?)"
            elif message:
                detail += f": {message}"
            rows.append(make_row("grafana", where, OK if healthy else FAIL, detail))
            continue
        healthy = status == 200 and isinstance(body, dict) and str(body.get("status", "")).upper() == "OK"
        detail = [f"HTTP {status}{': ' + message if message else ''}"]
        if status == 404:
            detail.append(
                f"Grafana has no backend health check for type {source.get('type')!r}: name a path of the "
                "datasource's own API to ask through Grafana's datasource proxy in verify_grafana_proxy_health"
            )
        rows.append(make_row("grafana", where, OK if healthy else FAIL, detail))
    return rows


# -- credentials -----------------------------------------------------------------------


def missing_credential_row(check: str, target: str, name: str, directory: str, stage: str) -> dict:
    return make_row(
        check,
        target,
        FAIL,
        f"credential {name} is missing or empty in {directory}: run {stage} first (or restore the credentials folder)",
    )


# -- the table -------------------------------------------------------------------------

HEADERS = ("CHECK", "TARGET", "RESULT", "DETAIL")


def render_table(rows) -> list[str]:
    """The rows as aligned text lines: a header, one line per row (more for multi-line details), a summary.

    Every line starts with ``|``, so Ansible's output quotes all lines alike (YAML would
    leave some plain and quote others) and the columns stay aligned in JSON and YAML.
    """
    if not isinstance(rows, list):
        raise VerifyInputError("expected a list of result rows")
    clean = []
    for row in rows:
        if not isinstance(row, dict) or row.get("result") not in RESULTS:
            raise VerifyInputError(f"not a result row: {row!r}")
        clean.append(make_row(row.get("check", ""), row.get("target", ""), row["result"], row.get("detail")))
    widths = [len(h) for h in HEADERS[:3]]
    for row in clean:
        for i, key in enumerate(("check", "target", "result")):
            widths[i] = max(widths[i], len(row[key]))

    def line(cells) -> str:
        return (
            "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells[:3], widths, strict=True)) + " | " + cells[3]
        ).rstrip()

    out = [line(HEADERS), "|" + "|".join("-" * (w + 2) for w in widths) + "|" + "-" * (len(HEADERS[3]) + 1)]
    for row in clean:
        details = row["detail"] or [""]
        out.append(line((row["check"], row["target"], row["result"], details[0])))
        out.extend(line(("", "", "", extra)) for extra in details[1:])
    counts = {r: sum(1 for row in clean if row["result"] == r) for r in RESULTS}
    out.append(f"| {len(clean)} checks: {counts[OK]} OK, {counts[FAIL]} FAIL, {counts[SKIP]} SKIP")
    return out


def failed_rows(rows) -> list[dict]:
    """The FAIL rows."""
    if not isinstance(rows, list):
        raise VerifyInputError("expected a list of result rows")
    return [row for row in rows if isinstance(row, dict) and row.get("result") == FAIL]
