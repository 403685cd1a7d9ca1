# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The data the validate_inventory action gathers, and how the checks read it.

``data`` holds ``groups`` ({group: [host, ...]}), ``hosts`` ({host: {variable: {value, origin,
error}}}), the options' specs and the controller's paths (``inventory_check`` in check.py
describes it). Here: the group names, a host's variable with where it is set, the host whose
variables stand for the cluster's, and the short forms messages show values in. Nothing raises
on user data.
"""

from __future__ import annotations

import json

SERVER_GROUP = "k3s_servers"
AGENT_GROUP = "k3s_agents"
CLUSTER_GROUP = "k3s_cluster"
REGISTRY_GROUP = "registry"
REQUIRED_GROUPS = (CLUSTER_GROUP, SERVER_GROUP, AGENT_GROUP, REGISTRY_GROUP)


# --- Showing values ---------------------------------------------------------------------
def show(value, secret: bool = False) -> str:
    """A short, readable form of any value for a message (never raises)."""
    if secret:
        return "'********'"
    try:
        if isinstance(value, str):
            text = "'" + value + "'"
        elif value is None:
            text = "null (empty)"
        else:
            text = json.dumps(value, default=repr, sort_keys=True)
    except Exception:  # any value at all must give a message
        text = "<" + type(value).__name__ + ">"
    return text if len(text) <= 80 else text[:77] + "..."


def kind(value) -> str:
    """The YAML word for a value's shape."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a " + type(value).__name__


def as_str_list(value) -> list[str]:
    """The strings of a list-like value; anything else gives []."""
    if isinstance(value, (list, tuple)):
        return [item for item in value if isinstance(item, str)]
    return []


def as_mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


# --- Reading the gathered data ------------------------------------------------------------
def host_variable(hosts: dict, host, name):
    """(value, origin, error, is_set) of a variable of a host in the gathered data."""
    variables = hosts.get(host)
    if not isinstance(variables, dict) or name not in variables:
        return None, None, None, False
    entry = variables[name]
    if not isinstance(entry, dict):
        return entry, None, None, True
    origin = entry.get("origin")
    return entry.get("value"), origin if isinstance(origin, str) and origin else None, entry.get("error"), True


def origin_or_host(origin, host) -> str:
    return origin if origin else f"host '{host}'"


def host_list(value) -> list[str]:
    return [str(host) for host in value] if isinstance(value, (list, tuple)) else []


def cluster_reference(data: dict) -> tuple[str | None, dict]:
    """The host whose variables stand for the cluster-wide ones: the first server, else the first host."""
    groups = as_mapping(data.get("groups"))
    hosts = as_mapping(data.get("hosts"))
    for host in host_list(groups.get(SERVER_GROUP)) + sorted(map(str, hosts)):
        if host in hosts:
            return host, hosts
    return None, hosts
