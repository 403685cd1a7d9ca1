# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter listing the login roles of a CloudNativePG Cluster (docs in cnpg_managed_roles.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def cnpg_managed_roles(databases, secret_prefix):
    """One login role per application database, owner of it, its password in the basic-auth
    Secret ``<secret_prefix><database, '_' as '-'>`` (Kubernetes names take no '_')."""
    if isinstance(databases, (str, bytes)) or not isinstance(databases, (list, tuple)):
        raise AnsibleFilterError(
            f"cnpg_managed_roles: expected a list of database names, got {type(databases).__name__}"
        )
    return [
        {
            "name": name,
            "ensure": "present",
            "login": True,
            "comment": f"Owner of database {name} (gauntlet.platform.cnpg)",
            "passwordSecret": {"name": secret_prefix + name.replace("_", "-")},
        }
        for name in databases
    ]


class FilterModule:
    """CloudNativePG managed roles."""

    def filters(self):
        return {"cnpg_managed_roles": cnpg_managed_roles}
