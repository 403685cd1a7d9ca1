# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filters laying out the Secret drone-secret-extension (docs in drone_secret_extension_data.yml,
drone_secret_extension_items.yml).

The extension (roles/drone/files/secret_extension.py) reads its token from ``<dir>/token`` and
each main-only secret from ``<dir>/secrets/<name>``: one projected Secret volume, whose keys
are ``token`` and ``secret.<name>``. Both filters name the keys here, in one place.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

TOKEN_KEY = "token"  # noqa: S105 - the name of a Secret key, not a password


def _secret_key(name):
    return f"secret.{name}"


def _names(names, filter_name):
    if isinstance(names, (str, bytes)) or not isinstance(names, (list, tuple)):
        raise AnsibleFilterError(f"{filter_name}: expected a list of secret names, got {type(names).__name__}")
    # Case-insensitive, as Jinja's sort: the order the template wrote before this filter.
    return sorted(names, key=lambda name: name.lower() if isinstance(name, str) else name)


def drone_secret_extension_data(names, values, token):
    """The Secret's plain data: the token, and the value of each name in ``names``."""
    names = _names(names, "drone_secret_extension_data")
    if not isinstance(values, Mapping):
        raise AnsibleFilterError(f"drone_secret_extension_data: values must be a mapping, got {type(values).__name__}")
    unknown = [name for name in names if name not in values]
    if unknown:
        raise AnsibleFilterError(f"drone_secret_extension_data: no value for the secret(s) {', '.join(unknown)}")
    data = {TOKEN_KEY: token}
    data.update((_secret_key(name), values[name]) for name in names)
    return data


def drone_secret_extension_items(names):
    """The volume's items: the token at ``token``, each secret at ``secrets/<name>``, by name."""
    names = _names(names, "drone_secret_extension_items")
    return [{"key": TOKEN_KEY, "path": "token"}] + [
        {"key": _secret_key(name), "path": f"secrets/{name}"} for name in names
    ]


class FilterModule:
    """The Secret of Drone's secret extension."""

    def filters(self):
        return {
            "drone_secret_extension_data": drone_secret_extension_data,
            "drone_secret_extension_items": drone_secret_extension_items,
        }
