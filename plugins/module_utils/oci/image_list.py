# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Collect every container image referenced by Kubernetes objects.

The roles feed the exact objects they apply (or render) through this, so the
bundle's image list is computed, never hand-written.

Covered:
- pod specs: ``containers``, ``initContainers``, ``ephemeralContainers`` of a
  Pod, of any object with a pod template (``spec.template``: Deployment,
  StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CNPG Pooler,
  ...), of a CronJob (``spec.jobTemplate.spec.template``) and of a PodTemplate;
- ``List`` objects (``items``);
- known custom-resource fields (see ``CUSTOM_RESOURCE_FIELDS``);
- known environment variables that name operand images (``RELATED_IMAGE_*``,
  CloudNativePG's ``OPERATOR_IMAGE_NAME``/``POSTGRES_IMAGE_NAME``/``PGBOUNCER_IMAGE_NAME``)
  and known operator arguments (``--prometheus-config-reloader=``).

Stdlib only.
"""

from __future__ import annotations

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_ref import ImageRefError, parse_image

POD_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")

# (api group, kind) -> dotted paths to an image string; a path segment ``[]``
# walks every item of a list.
CUSTOM_RESOURCE_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("postgresql.cnpg.io", "Cluster"): ("spec.imageName",),
    ("postgresql.cnpg.io", "ImageCatalog"): ("spec.images.[].image",),
    ("postgresql.cnpg.io", "ClusterImageCatalog"): ("spec.images.[].image",),
    ("k8s.keycloak.org", "Keycloak"): ("spec.image",),
    ("monitoring.coreos.com", "Prometheus"): ("spec.image",),
    ("monitoring.coreos.com", "PrometheusAgent"): ("spec.image",),
    ("monitoring.coreos.com", "Alertmanager"): ("spec.image",),
    ("monitoring.coreos.com", "ThanosRuler"): ("spec.image",),
}
# (api group, kind) -> paths to extra pod-spec-like objects with container lists.
CUSTOM_RESOURCE_POD_SPECS: dict[tuple[str, str], tuple[str, ...]] = {
    ("monitoring.coreos.com", "Prometheus"): ("spec",),
    ("monitoring.coreos.com", "PrometheusAgent"): ("spec",),
    ("monitoring.coreos.com", "Alertmanager"): ("spec",),
    ("monitoring.coreos.com", "ThanosRuler"): ("spec",),
}
IMAGE_ENV_NAMES = frozenset({"OPERATOR_IMAGE_NAME", "POSTGRES_IMAGE_NAME", "PGBOUNCER_IMAGE_NAME"})
IMAGE_ENV_PREFIXES = ("RELATED_IMAGE_",)
IMAGE_ARG_PREFIXES = ("--prometheus-config-reloader=",)


class ImageListError(ValueError):
    """Objects that cannot be scanned or an image reference that does not parse."""


def _where(obj: dict) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = meta.get("name", "?")
    ns = meta.get("namespace")
    return f"{obj.get('kind', '?')} {ns + '/' if ns else ''}{name}"


def _get_path(obj, path: str):
    """Values at a dotted path (``[]`` expands lists)."""
    current = [obj]
    for seg in path.split("."):
        nxt = []
        for value in current:
            if seg == "[]":
                if isinstance(value, list):
                    nxt.extend(value)
            elif isinstance(value, dict) and seg in value:
                nxt.append(value[seg])
        current = nxt
    return current


def _images_of_container(container: dict) -> list[str]:
    found = []
    image = container.get("image")
    if image is not None:
        found.append(image)
    for env in container.get("env") or []:
        if not isinstance(env, dict):
            continue
        name = env.get("name", "")
        value = env.get("value")
        if isinstance(value, str) and value and (name in IMAGE_ENV_NAMES or name.startswith(IMAGE_ENV_PREFIXES)):
            found.append(value)
    for arg in list(container.get("args") or []) + list(container.get("command") or []):
        if isinstance(arg, str):
            for prefix in IMAGE_ARG_PREFIXES:
                if arg.startswith(prefix) and len(arg) > len(prefix):
                    found.append(arg[len(prefix) :])
    return found


def _images_of_pod_spec(spec) -> list[str]:
    found = []
    if not isinstance(spec, dict):
        return found
    for key in POD_CONTAINER_LISTS:
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                found.extend(_images_of_container(container))
    return found


def _pod_specs(obj: dict) -> list:
    kind = obj.get("kind")
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    if kind == "Pod":
        return [spec]
    if kind == "PodTemplate":
        return _get_path(obj, "template.spec")
    if kind == "CronJob":
        return _get_path(obj, "spec.jobTemplate.spec.template.spec")
    # Every workload kind (and custom resources such as CNPG's Pooler) with a pod template.
    return _get_path(obj, "spec.template.spec")


def images_of_object(obj: dict) -> list[str]:
    """Image strings referenced by one object, as written (not normalised)."""
    if not isinstance(obj, dict):
        raise ImageListError(f"expected a Kubernetes object (a mapping), got {type(obj).__name__}")
    if obj.get("kind") == "List" or (obj.get("kind", "").endswith("List") and isinstance(obj.get("items"), list)):
        found = []
        for item in obj.get("items") or []:
            found.extend(images_of_object(item))
        return found
    found = []
    for spec in _pod_specs(obj):
        found.extend(_images_of_pod_spec(spec))
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    key = (group, obj.get("kind"))
    for path in CUSTOM_RESOURCE_FIELDS.get(key, ()):
        found.extend(v for v in _get_path(obj, path) if v is not None)
    for path in CUSTOM_RESOURCE_POD_SPECS.get(key, ()):
        for spec in _get_path(obj, path):
            found.extend(_images_of_pod_spec(spec))
    for image in found:
        if not isinstance(image, str) or not image.strip():
            raise ImageListError(f"{_where(obj)} has an empty or non-string image: {image!r}")
    return found


def images_from_manifests(objects, normalize: bool = True) -> list[str]:
    """Sorted, de-duplicated images of a list of objects (``None`` entries from empty YAML documents are skipped).

    With ``normalize`` every image is normalised (``nginx`` -> ``docker.io/library/nginx:latest``).
    """
    if isinstance(objects, dict):
        objects = [objects]
    if not isinstance(objects, list | tuple):
        raise ImageListError(f"expected a list of Kubernetes objects, got {type(objects).__name__}")
    result = set()
    for obj in objects:
        if obj is None:
            continue
        for image in images_of_object(obj):
            if normalize:
                try:
                    image = str(parse_image(image))
                except ImageRefError as exc:
                    raise ImageListError(f"{_where(obj)}: {exc}") from exc
            result.add(image.strip())
    return sorted(result)
