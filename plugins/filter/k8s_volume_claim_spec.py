# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter building the spec of a PersistentVolumeClaim (docs in k8s_volume_claim_spec.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def k8s_volume_claim_spec(size, storage_class=""):
    """A ReadWriteOnce claim of ``size``; ``storageClassName`` only when a class is given.

    An empty class leaves the field out, so the cluster's default StorageClass (k3s's
    local-path) is used: ``storageClassName: ""`` would ask for no class at all.
    """
    if storage_class is None:
        raise AnsibleFilterError("k8s_volume_claim_spec: storage_class is null; use '' for the cluster's default")
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return spec


class FilterModule:
    """PersistentVolumeClaim spec."""

    def filters(self):
        return {"k8s_volume_claim_spec": k8s_volume_claim_spec}
