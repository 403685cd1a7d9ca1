# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Argo CD Applications judged: Synced and Healthy, or why not.

The one place that decides what a good Application is. The argocd role's own check (filter
argocd_app_problems, its report after the wait) and the verify row (filter
verify_argocd_app) both read it. Input is what ``kubernetes.core.k8s_info`` returns for
kind Application: the fields judged are those of Argo CD's Application CRD,
``status.sync.status``, ``status.health`` (status, message), ``status.conditions`` (type,
message), ``status.operationState`` (phase, message) and ``status.resources`` (kind,
namespace, name, status, health).
"""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import (
    FAIL,
    OK,
    VerifyInputError,
    limited,
    make_row,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.task_results import task_error

SYNCED = "Synced"
HEALTHY = "Healthy"
# What a status Argo CD has not reported yet (a new Application) reads as.
UNKNOWN = "Unknown"


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def find_application(applications, name: str):
    """The Application object named ``name`` among ``applications`` (k8s_info resources), or None."""
    if not isinstance(applications, list):
        raise VerifyInputError("expected the Application objects read from the cluster, as a list")
    return next((app for app in applications if _mapping(_mapping(app).get("metadata")).get("name") == name), None)


def missing_application(name: str, namespace: str) -> str:
    """Why an Application is not there at all."""
    return f"no Application {name} in namespace {namespace}: run the platform stage (tag argocd_configure creates it)"


def _resource_problem(resource) -> str | None:
    """``Kind namespace/name: sync, health: message`` for a resource out of sync or not healthy.

    A resource that does not report a sync or health status (a hook, a kind without a health
    check) is not judged on it.
    """
    resource = _mapping(resource)
    sync = resource.get("status")
    health = _mapping(resource.get("health"))
    health_status = health.get("status")
    if sync in (None, SYNCED) and health_status in (None, HEALTHY):
        return None
    namespace = resource.get("namespace")
    where = f"{resource.get('kind')} {namespace + '/' if namespace else ''}{resource.get('name')}"
    states = ", ".join(str(state) for state in (sync, health_status) if state) or "no status"
    message = health.get("message")
    return f"{where}: {states}{': ' + str(message) if message else ''}"


def _judged(app) -> tuple[list[str], list[str]]:
    """(what the Application says, its resources that are not Synced or not Healthy); both
    empty when the Application is Synced and Healthy."""
    status = _mapping(_mapping(app).get("status"))
    sync = _mapping(status.get("sync")).get("status") or UNKNOWN
    health = _mapping(status.get("health"))
    health_status = health.get("status") or UNKNOWN
    if sync == SYNCED and health_status == HEALTHY:
        return [], []
    message = health.get("message")
    lines = [f"sync {sync}, health {health_status}{': ' + str(message) if message else ''}"]
    for condition in status.get("conditions") or []:
        condition = _mapping(condition)
        said = condition.get("message")
        lines.append(f"condition {condition.get('type')}{': ' + str(said) if said else ''}")
    if isinstance(status.get("operationState"), dict):
        operation = status["operationState"]
        said = operation.get("message")
        lines.append(f"last sync {operation.get('phase') or UNKNOWN}{': ' + str(said) if said else ''}")
    resources = [problem for problem in map(_resource_problem, status.get("resources") or []) if problem]
    return lines, resources


def application_problems(app) -> list[str]:
    """Why one Application object is not Synced and Healthy; empty when it is.

    First its sync and health status (with the health message), then its conditions, its
    last sync operation and each resource that is out of sync or not healthy.
    """
    lines, resources = _judged(app)
    return lines + resources


def applications_report(names, applications, namespace: str) -> str:
    """The argocd role's report: for each of ``names`` that is missing or not Synced and
    Healthy, ``- name: <why>`` and its other lines indented; '' when every one is fine."""
    lines = []
    for name in names:
        app = find_application(applications, name)
        problems = [missing_application(name, namespace)] if app is None else application_problems(app)
        if problems:
            lines.append(f"- {name}: {problems[0]}")
            lines += [f"  {line}" for line in problems[1:]]
    return "".join(f"{line}\n" for line in lines)


def application_row(result, name: str, namespace: str = "argocd") -> dict:
    """The verify row of Application ``name``, from a registered k8s_info of Applications."""
    target = f"{namespace}/{name}"
    error = task_error(result, expect="resources")
    if error:
        if "Failed to find exact match" in error or "could not find the requested resource" in error:
            error = "the Application kind is unknown: Argo CD is not installed (run the platform stage, tag argocd)"
        return make_row("argocd", target, FAIL, error)
    app = find_application(result.get("resources") or [], name)
    if app is None:
        return make_row("argocd", target, FAIL, missing_application(name, namespace))
    lines, resources = _judged(app)
    if not lines:
        revision = str(_mapping(_mapping(app.get("status")).get("sync")).get("revision") or "")[:12]
        return make_row("argocd", target, OK, f"{SYNCED}{' to ' + revision if revision else ''}, {HEALTHY}")
    return make_row("argocd", target, FAIL, lines + limited(resources))
