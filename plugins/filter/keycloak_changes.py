# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter: what the keycloak role's configuration tasks changed, as lines without secrets
(docs in keycloak_changes.yml).

The role's community.general.keycloak_* tasks are no_log (their arguments hold the admin
password and client secrets), so a run that converges a realm changed by hand would only say
"changed". Their registered results keep ``existing`` (before) and ``end_state`` (after), the
representations the modules compare (community.general plugins/modules/keycloak_realm.py,
keycloak_client.py, keycloak_clientscope.py, keycloak_group.py, keycloak_role.py, keycloak_user.py,
keycloak_clientscope_type.py, keycloak_user_rolemapping.py), and ``diff`` in --diff mode: this
filter compares them and names each changed object and field. Values of fields whose name
says secret, password, credential, private key or token are never shown.
"""

from __future__ import annotations

import json
import re

from ansible.errors import AnsibleFilterError

# Field names whose values are never printed (client secret, user credentials, registration
# access token, key material); the field is still named.
SECRET_FIELD = re.compile(r"secret|password|credential|private[._]?key|token$", re.IGNORECASE)
# Keys that name an object in a representation, in the order they are tried.
NAME_KEYS = ("clientId", "client_id", "username", "name", "alias", "realm")
MAX_FIELDS = 12  # per object; the rest are counted
MAX_VALUE = 100  # characters of a value shown


def _show(value) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _key_of(item):
    if isinstance(item, dict):
        for key in NAME_KEYS:
            if isinstance(item.get(key), str):
                return item[key]
    return None


def _differences(before, after, path: str, secret: bool = False) -> list[str]:
    """Field paths that differ between two representations, with before -> after values."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after), key=str):
            child = f"{path}.{key}" if path else str(key)
            hidden = secret or bool(SECRET_FIELD.search(str(key)))
            if key == "id" and (key not in before or key not in after):
                continue  # a server-assigned id one side leaves out (a module's desired state) is no change
            if key not in before:
                found.append(f"{child} added" + ("" if hidden else f" {_show(after[key])}"))
            elif key not in after:
                found.append(f"{child} removed")
            else:
                found += _differences(before[key], after[key], child, hidden)
        return found
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and before + after
        and all(_key_of(i) is not None for i in before + after)
    ):
        old = {_key_of(i): i for i in before}
        new = {_key_of(i): i for i in after}
        found = []
        for key in sorted(set(old) | set(new)):
            child = f"{path}[{key}]"
            if key not in old:
                found.append(f"{child} added")
            elif key not in new:
                found.append(f"{child} removed")
            else:
                found += _differences(old[key], new[key], child, secret)
        return found
    if secret:
        return [f"{path} (value not shown)"]
    return [f"{path} {_show(before)} -> {_show(after)}"]


def _name(result: dict, rep_before, rep_after, given) -> str:
    if given:
        return str(given)
    for rep in (rep_after, rep_before):
        name = _key_of(rep)
        if name:
            return name
    item = result.get("keycloak_item")
    while isinstance(item, dict):
        name = _key_of(item)
        if name:
            return name
        item = item.get("keycloak_item")
    if isinstance(item, str):
        return item
    return "?"


def _one(kind: str, result: dict, given_name) -> list[str]:
    if not isinstance(result, dict) or result.get("skipped") or not result.get("changed"):
        return []
    before, after = result.get("existing"), result.get("end_state")
    diff = result.get("diff")
    if isinstance(diff, dict):
        if not before and "before" in diff:
            # keycloak_clientscope and keycloak_group return ``existing`` empty ({}) even on an
            # update: their before state is the diff's (the task runs with diff: true), ''
            # when they create
            before = diff.get("before") or {}
        if isinstance(diff.get("after"), dict | list) and after in (None, {}, []):
            # check mode with --diff: what the module would write
            after = diff["after"]
    name = _name(result, before, after, given_name)
    label = f"{kind} {name}"
    if isinstance(before, list) or isinstance(after, list):
        pass  # role mappings: compared item by item below
    elif not before and after:
        return [f"{label}: created"]
    elif before and not after and "end_state" in result:
        return [f"{label}: removed"]
    if before is None or after is None or (isinstance(before, list) != isinstance(after, list)):
        return [f"{label}: changed (run with --diff in check mode for the fields)"]
    fields = _differences(before, after, "")
    if not fields:
        return [f"{label}: changed"]
    more = len(fields) - MAX_FIELDS
    shown = fields[:MAX_FIELDS] + ([f"and {more} more field(s)"] if more > 0 else [])
    return [f"{label}: {field}" for field in shown]


def keycloak_changes(entries):
    """Lines naming what each registered keycloak_* result changed.

    ``entries`` is a list of ``{"kind": "realm", "result": <registered>, "name": optional}``;
    a registered loop (``results``) gives one line per changed item.
    """
    if not isinstance(entries, list):
        raise AnsibleFilterError("keycloak_changes: expected a list of {kind, result} entries")
    lines = []
    for entry in entries:
        if not isinstance(entry, dict) or "kind" not in entry:
            raise AnsibleFilterError(f"keycloak_changes: not a {{kind, result}} entry: {entry!r}")
        registered = entry.get("result") or {}
        if not isinstance(registered, dict):
            continue
        for result in registered.get("results", [registered]):
            lines += _one(str(entry["kind"]), result, entry.get("name"))
    return lines


class FilterModule:
    """Keycloak filters."""

    def filters(self):
        return {"keycloak_changes": keycloak_changes}
