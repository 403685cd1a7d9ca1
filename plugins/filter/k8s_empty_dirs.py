# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter laying out a pod's writable folders as emptyDir volumes (docs in k8s_empty_dirs.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def k8s_empty_dirs(folders):
    """``{volume name: path}`` as the pod's emptyDir ``volumes`` and the container's ``volumeMounts``.

    For a container with a read-only root filesystem: each folder it writes to is an emptyDir of
    its own, in the mapping's order.
    """
    if not isinstance(folders, Mapping):
        raise AnsibleFilterError(
            f"k8s_empty_dirs: expected a mapping of volume names to paths, got {type(folders).__name__}"
        )
    return {
        "volumeMounts": [{"name": name, "mountPath": path} for name, path in folders.items()],
        "volumes": [{"name": name, "emptyDir": {}} for name in folders],
    }


class FilterModule:
    """emptyDir volumes for writable folders."""

    def filters(self):
        return {"k8s_empty_dirs": k8s_empty_dirs}
