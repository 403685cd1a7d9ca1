# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""The bundle folder and the base folder of a differential bundle, for the lookups that read bundle files.

A lookup's ``base_dir`` option wins; without it the inventory's ``gauntlet_bundle_base_dir``
is used, so every role that reads bundle files serves a base+delta pair without passing it.
"""

from __future__ import annotations

from ansible.errors import AnsibleLookupError

BASE_DIR_VARIABLE = "gauntlet_bundle_base_dir"


def base_dir(lookup, variables, kwargs) -> str | None:
    """``kwargs['base_dir']``, else the templated ``gauntlet_bundle_base_dir``, else None."""
    if kwargs.get("base_dir"):
        return str(kwargs["base_dir"])
    value = (variables or {}).get(BASE_DIR_VARIABLE)
    if value and getattr(lookup, "_templar", None) is not None:
        value = lookup._templar.template(value)
    return str(value) if value else None


def bundle_and_base_dir(lookup, name: str, variables, kwargs) -> tuple[str, str | None]:
    """The bundle folder and the base folder of lookup ``name``, whose only options are bundle_dir and base_dir.

    The options are read from ``kwargs`` directly, so the plugin also works outside the plugin loader.
    """
    bundle_dir = kwargs.get("bundle_dir")
    if not bundle_dir or set(kwargs) - {"bundle_dir", "base_dir"}:
        raise AnsibleLookupError(f"{name}: pass bundle_dir=gauntlet_bundle_dir (and base_dir) and nothing else")
    return bundle_dir, base_dir(lookup, variables, kwargs)
