# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter saying why Argo CD Applications are not Synced and Healthy (docs in argocd_app_problems.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def _get(data, *path, default=None):
    """``data[path[0]][path[1]]...``, or ``default`` where a level is missing or not a mapping."""
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return default
        data = data[key]
    return data


def _resource_line(resource):
    line = (
        f"  {resource.get('kind')} {resource.get('namespace', '')}/{resource.get('name')}: {resource.get('status', '')}"
    )
    if "health" in resource:
        message = _get(resource, "health", "message", default="")
        line += f", {_get(resource, 'health', 'status', default='')}" + (f": {message}" if message else "")
    return line


def _app_lines(app, seen, namespace):
    found = [item for item in seen if _get(item, "metadata", "name") == app["name"]]
    if not found:
        return [f"- {app['name']}: no such Application in namespace {namespace} (did tag argocd_configure run?)"]
    status = _get(found[0], "status", default={})
    if not isinstance(status, Mapping):
        status = {}
    sync = _get(status, "sync", "status", default="Unknown")
    health = _get(status, "health", "status", default="Unknown")
    if sync == "Synced" and health == "Healthy":
        return []
    message = _get(status, "health", "message", default="")
    lines = [f"- {app['name']}: sync {sync}, health {health}" + (f": {message}" if message else "")]
    lines += [f"  condition {c.get('type')}: {c.get('message', '')}" for c in status.get("conditions") or []]
    if "operationState" in status:
        operation = status["operationState"]
        lines.append(f"  last sync {_get(operation, 'phase', default='?')}: {_get(operation, 'message', default='')}")
    # Only the resources that are out of sync or not healthy: the ones to look at.
    lines += [
        _resource_line(resource)
        for resource in status.get("resources") or []
        if resource.get("status", "Synced") != "Synced"
        or _get(resource, "health", "status", default="Healthy") != "Healthy"
    ]
    return lines


def argocd_app_problems(applications, seen, namespace):
    """The lines of the verify step's report for the Applications that are not Synced and
    Healthy (or not there at all), each line ending with a newline; '' when every one is."""
    if not isinstance(applications, list) or not isinstance(seen, list):
        raise AnsibleFilterError("argocd_app_problems: expected the Applications wanted and the ones seen, as lists")
    lines = [line for app in applications for line in _app_lines(app, seen, namespace)]
    return "".join(f"{line}\n" for line in lines)


class FilterModule:
    """Argo CD Applications' problems."""

    def filters(self):
        return {"argocd_app_problems": argocd_app_problems}
