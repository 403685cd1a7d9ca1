# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter collecting every image of Kubernetes objects.

``objects | gauntlet.platform.images_from_manifests`` returns the sorted, unique,
normalised images of containers, initContainers and ephemeralContainers of every
workload kind (pod templates, Job/CronJob templates), ``List`` items and known
custom-resource fields (CloudNativePG ``Cluster.spec.imageName`` and image catalogs,
Keycloak ``spec.image``, Prometheus operator ``spec.image``; operand-image env vars).

Input: a list of objects (mappings), a single object, or YAML text (single or
multi-document, e.g. a ``lookup('file', ...)`` of an upstream manifest).
``normalize=false`` keeps images as written.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_list import (
    ImageListError,
    images_from_manifests as _collect,
)
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


def _load(value):
    if isinstance(value, str):
        import yaml

        try:
            return [doc for doc in yaml.safe_load_all(value) if doc is not None]
        except yaml.YAMLError as exc:
            raise AnsibleFilterError(f"images_from_manifests: the input text is not valid YAML: {exc}") from exc
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            out.extend(_load(item) if isinstance(item, str | list | tuple) else [item])
        return out
    raise AnsibleFilterError(
        f"images_from_manifests: expected a list of Kubernetes objects or YAML text, got {type(value).__name__}"
    )


@filter_errors(ImageListError)
def images_from_manifests(value, normalize=True):
    return _collect(_load(value), normalize=bool(normalize))


class FilterModule:
    """Images of Kubernetes manifests."""

    def filters(self):
        return {"images_from_manifests": images_from_manifests}
