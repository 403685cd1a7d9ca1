# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter writing the bundle lock's digests into the image references of Kubernetes objects (docs in
k8s_pin_images.yml)."""

from __future__ import annotations

import copy

from ansible.errors import AnsibleFilterError

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image

# Keys whose string value is an image reference: pod specs (`image`), CloudNativePG's Cluster
# (`imageName`), prometheus-operator's Prometheus/Alertmanager (`image`).
IMAGE_KEYS = ("image", "imageName")
# Data, never a reference the platform runs.
SKIPPED_KINDS = ("ConfigMap", "Secret", "CustomResourceDefinition")


def _locked(lock) -> dict:
    if lock in (None, "", {}):
        return {}
    if not isinstance(lock, dict) or not isinstance(lock.get("images", []), list):
        raise AnsibleFilterError("k8s_pin_images: the lock must be the bundle lock's JSON object (with an images list)")
    digests = {}
    for entry in lock.get("images", []):
        try:
            ref = parse_image(entry["name"])
        except (ImageRefError, KeyError, TypeError) as exc:
            raise AnsibleFilterError(
                f"k8s_pin_images: bundle lock image entry {entry!r:.120} is invalid: {exc}"
            ) from exc
        digest = entry.get("digest", "")
        if not str(digest).startswith("sha256:"):
            raise AnsibleFilterError(f"k8s_pin_images: bundle lock image {entry['name']} has no sha256 digest")
        digests[str(ref)] = digest
    return digests


def _pin(value, digests):
    try:
        ref = parse_image(value)
    except ImageRefError:
        return value
    if ref.digest:
        return value
    digest = digests.get(str(ref))
    return f"{value.strip()}@{digest}" if digest else value


def _walk(node, digests):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in IMAGE_KEYS and isinstance(value, str):
                node[key] = _pin(value, digests)
            elif key == "env" and isinstance(value, list):
                # Image settings passed to a workload (drone-runner's DRONE_IMAGE_PLACEHOLDER).
                for item in value:
                    if isinstance(item, dict) and isinstance(item.get("value"), str) and item["value"].strip():
                        item["value"] = _pin(item["value"], digests)
                    _walk(item, digests)
            else:
                _walk(value, digests)
    elif isinstance(node, list):
        for item in node:
            _walk(item, digests)


def k8s_pin_images(objects, lock):
    """Copies of ``objects`` whose image references the lock knows carry its digest (``ref@sha256:...``)."""
    if not isinstance(objects, list):
        raise AnsibleFilterError(f"k8s_pin_images: expected a list of objects, got {type(objects).__name__}")
    digests = _locked(lock)
    if not digests:
        return objects
    out = []
    for obj in objects:
        if isinstance(obj, dict) and obj.get("kind") not in SKIPPED_KINDS:
            obj = copy.deepcopy(obj)
            _walk(obj.get("spec"), digests)
        out.append(obj)
    return out


class FilterModule:
    """Bundle lock digests in image references."""

    def filters(self):
        return {"k8s_pin_images": k8s_pin_images}
