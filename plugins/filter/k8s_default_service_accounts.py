# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter giving every Namespace of a list a `default` ServiceAccount that mounts no token (docs in
k8s_default_service_accounts.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def k8s_default_service_accounts(objects):
    """``objects`` followed by a ``default`` ServiceAccount without token automount per Namespace in it.

    CIS 5.1.5: a workload that needs the API gets its own ServiceAccount. They come after every
    other object, so the files already rendered keep their numbers, and a ``default``
    ServiceAccount the list already holds is left as it is.
    """
    if not isinstance(objects, list):
        raise AnsibleFilterError(
            f"k8s_default_service_accounts: expected a list of objects, got {type(objects).__name__}"
        )
    namespaces, present = [], set()
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise AnsibleFilterError(
                f"k8s_default_service_accounts: object #{index} is not a Kubernetes object (no metadata)"
            )
        meta = obj["metadata"]
        if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1" and meta.get("name") not in namespaces:
            namespaces.append(meta.get("name"))
        if obj.get("kind") == "ServiceAccount" and meta.get("name") == "default":
            present.add(meta.get("namespace"))
    accounts = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": name, "labels": {"app.kubernetes.io/managed-by": "gauntlet"}},
            "automountServiceAccountToken": False,
        }
        for name in namespaces
        if name not in present
    ]
    return list(objects) + accounts


class FilterModule:
    """Default ServiceAccounts of the platform's namespaces."""

    def filters(self):
        return {"k8s_default_service_accounts": k8s_default_service_accounts}
