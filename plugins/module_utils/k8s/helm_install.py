# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Judge a k3s helm-controller install from what kubernetes.core.k8s_info read (filters in helm_install.py).

How helm-controller v0.17.7 (the one k3s v1.36.4 embeds; k3s-io/helm-controller
pkg/controllers/chart/chart.go) works, which these functions rely on:
- it copies the HelmChartConfig's spec.valuesContent into the Secret ``chart-values-<chart>``
  (key ``HelmChartConfigValuesContent``) and recreates the Job ``helm-install-<chart>`` when
  the values change;
- the Job is created suspended and resumed; its default backoffLimit is 1000, so a chart that
  refuses the values fails pod after pod for hours instead of marking the Job Failed;
- the Job's pods carry the Job controller's label ``batch.kubernetes.io/job-name``.

Every function takes the ``resources`` list of a k8s_info result (empty when the object does
not exist) and raises HelmInstallError on input of the wrong shape.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
VALUES_KEY = "HelmChartConfigValuesContent"
# Lines of each pod's log kept in a failure message.
LOG_LINES = 40


class HelmInstallError(ValueError):
    """Input that is not what k8s_info returns."""


def _one(resources, what):
    if resources is None:
        return None
    if isinstance(resources, dict) and "resources" in resources:
        resources = resources["resources"]
    if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
        raise HelmInstallError(f"expected the resources list of a k8s_info result for the {what}")
    if len(resources) > 1:
        raise HelmInstallError(f"expected at most one {what}, got {len(resources)}")
    return resources[0] if resources else None


def _time(value):
    """RFC 3339 time of the API server (``2026-08-27T10:00:00Z``) as an aware datetime, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise HelmInstallError(f"not an RFC 3339 time: {value!r}") from exc


def values_applied(secrets, values_content):
    """True when helm-controller's values Secret holds exactly this valuesContent."""
    secret = _one(secrets, "values Secret")
    if not isinstance(values_content, str):
        raise HelmInstallError("values_content must be the HelmChartConfig's spec.valuesContent string")
    if secret is None:
        return False
    encoded = (secret.get("data") or {}).get(VALUES_KEY)
    if encoded is None:
        return False
    try:
        return base64.b64decode(encoded, validate=True).decode("utf-8") == values_content
    except (binascii.Error, UnicodeDecodeError):
        return False


def values_updated_at(secrets):
    """When the values Secret last changed: the newest managedFields time, else its creation."""
    secret = _one(secrets, "values Secret")
    if secret is None:
        return None
    meta = secret.get("metadata") or {}
    times = [_time(f.get("time")) for f in meta.get("managedFields") or [] if isinstance(f, dict)]
    times = [t for t in times if t] or [_time(meta.get("creationTimestamp"))]
    newest = max((t for t in times if t), default=None)
    return newest.isoformat() if newest else None


def job_state(jobs, since=None, max_failures=3):
    """State of the install Job: {state: pending|succeeded|failed, detail: one line}.

    ``since``: the values' update time (values_updated_at); a Job that started before it ran
    older values and is still pending. ``max_failures``: failed pods after which the install
    counts as failed (helm-controller's Job would retry up to 1000 times).
    """
    job = _one(jobs, "Job")
    if not isinstance(max_failures, int) or max_failures < 1:
        raise HelmInstallError(f"max_failures must be a positive integer, got {max_failures!r}")
    if job is None:
        return {"state": PENDING, "detail": "helm-controller has not created the Job yet"}
    spec, status = job.get("spec") or {}, job.get("status") or {}
    started = _time(status.get("startTime"))
    if spec.get("suspend") or started is None:
        return {"state": PENDING, "detail": "the Job has not started yet"}
    if since and started < _time(since):
        return {"state": PENDING, "detail": "the Job that ran is older than the values; waiting for the new one"}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    if (conditions.get("Complete") or {}).get("status") == "True":
        return {"state": SUCCEEDED, "detail": "the Job completed"}
    if (conditions.get("Failed") or {}).get("status") == "True":
        failed = conditions["Failed"]
        return {
            "state": FAILED,
            "detail": f"the Job failed: {failed.get('reason', '')} {failed.get('message', '')}".strip(),
        }
    failures = int(status.get("failed") or 0)
    if failures >= max_failures:
        return {"state": FAILED, "detail": f"{failures} attempts of the Job failed (it keeps retrying)"}
    return {
        "state": PENDING,
        "detail": f"the Job is running ({int(status.get('active') or 0)} active, {failures} failed attempt(s))",
    }


def tls_store_problem(stores, secret_name):
    """'' when the TLSStore serves Secret ``secret_name`` as its default certificate, else what is wrong."""
    store = _one(stores, "TLSStore")
    if store is None:
        return "TLSStore kube-system/default does not exist, so Traefik serves its own self-signed certificate"
    name = ((store.get("spec") or {}).get("defaultCertificate") or {}).get("secretName")
    if name != secret_name:
        return (
            f"TLSStore kube-system/default names default certificate Secret {name!r}, not {secret_name!r}, "
            "so the local CA's certificate is not served"
        )
    return ""


def failure_message(job, state, problem, pods, logs, fix=""):
    """The message a user gets when the install did not take effect: what, the Job's pods' logs, the fix.

    ``job``: "namespace/name" of the Job; ``state``: a job_state result; ``problem``: a
    tls_store_problem result (may be ''); ``pods``: the k8s_info resources of the Job's pods;
    ``logs``: the registered loop of kubernetes.core.k8s_log over those pods (results with
    ``log_lines`` or ``msg``); ``fix``: the last line, how to fix it.
    """
    if not isinstance(state, dict) or "state" not in state:
        raise HelmInstallError("state must be a job_state result")
    if not isinstance(pods, list):
        raise HelmInstallError("pods must be the resources list of a k8s_info result for the Job's pods")
    results = (logs or {}).get("results", []) if isinstance(logs, dict) else logs or []
    lines = [f"Job {job}: {state.get('detail', state['state'])}."]
    if problem:
        lines.append(problem + ".")
    # Pods newest first: the last attempt's log says why the values were refused.
    ordered = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)
    by_pod = {}
    for result in results:
        if isinstance(result, dict):
            item = result.get(result.get("ansible_loop_var", "item")) or {}
            name = (item.get("metadata") or {}).get("name") if isinstance(item, dict) else None
            by_pod[name] = result
    if not ordered:
        lines.append("No pod of the Job exists (any more): run `kubectl -n kube-system get events` to see why.")
    for pod in ordered:
        meta = pod.get("metadata") or {}
        phase = (pod.get("status") or {}).get("phase", "?")
        result = by_pod.get(meta.get("name")) or {}
        log = result.get("log_lines")
        if log is None and isinstance(result.get("log"), str):
            log = result["log"].splitlines()
        lines.append(f"--- log of pod {meta.get('name')} ({phase}), last {LOG_LINES} lines ---")
        if log:
            lines.extend(log[-LOG_LINES:])
        else:
            lines.append(f"(no log: {result.get('msg') or 'empty'})")
    lines.append(fix or "helm-controller keeps the previous values while the install fails: fix what the log names.")
    return "\n".join(lines)
