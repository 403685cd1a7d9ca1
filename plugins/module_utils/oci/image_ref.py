# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Container image references: parse, normalise, mirror.

Follows the grammar of the distribution reference package that Docker,
containerd and skopeo share: ``[registry/]path[:tag][@digest]``; a first path
component is a registry when it contains a ``.`` or ``:`` or is ``localhost``;
images without a registry come from ``docker.io`` and one-component Docker Hub
paths live under ``library/``.

Stdlib only: modules that run on the VMs import this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
DEFAULT_TAG = "latest"
# Docker Hub aliases that all mean docker.io.
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
# The API host behind docker.io.
DOCKER_HUB_API_HOST = "registry-1.docker.io"

_COMPONENT_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
_SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_RE = re.compile(
    r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$"
)


class ImageRefError(ValueError):
    """An image reference that cannot be parsed."""


@dataclass(frozen=True, order=True)
class ImageRef:
    """A normalised image reference."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """registry/repository, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    @property
    def api_host(self) -> str:
        """The host that serves the registry API (docker.io is served elsewhere)."""
        return DOCKER_HUB_API_HOST if self.registry == DEFAULT_REGISTRY else self.registry

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_registry(self, registry: str) -> ImageRef:
        return ImageRef(registry, self.repository, self.tag, self.digest)

    def mirror(self, local_registry: str) -> ImageRef:
        """The reference under a local registry keeping the full upstream path.

        ``quay.io/keycloak/keycloak:26`` under ``registry.local:5000`` becomes
        ``registry.local:5000/quay.io/keycloak/keycloak:26``. An upstream
        registry with a port becomes ``host_port`` (``:`` is not allowed in a
        repository path); ``registry_path`` gives that component.
        """
        local = normalize_registry(local_registry)
        if self.registry == local:
            return self
        return ImageRef(local, f"{registry_path(self.registry)}/{self.repository}", self.tag, self.digest)

    def as_dict(self) -> dict:
        return {
            "registry": self.registry,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
            "name": self.name,
            "reference": self.reference,
            "full": str(self),
        }


def normalize_registry(registry: str) -> str:
    """Strip a scheme and trailing slash; map Docker Hub aliases to docker.io."""
    if not isinstance(registry, str) or not registry.strip():
        raise ImageRefError(f"registry must be a non-empty string, got {registry!r}")
    value = registry.strip()
    for prefix in ("https://", "http://"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    value = value.rstrip("/")
    if "/" in value or not _HOST_RE.match(value):
        raise ImageRefError(f"invalid registry host {registry!r}: expected host[:port], e.g. registry.local:5000")
    value = value.lower()
    return DEFAULT_REGISTRY if value in _DOCKER_HUB_ALIASES else value


def registry_path(registry: str) -> str:
    """The path component that stands for an upstream registry under the local one.

    ``quay.io`` -> ``quay.io``; ``registry.example:5000`` -> ``registry.example_5000``.
    """
    host = normalize_registry(registry)
    if host.startswith("["):
        raise ImageRefError(
            f"registry {registry!r}: images from an IPv6 address cannot be mirrored under another registry; use a host name"
        )
    return host.replace(":", "_")


def _is_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost" or component.startswith("[")


def parse_image(ref: str, default_tag: bool = True) -> ImageRef:
    """Parse and normalise an image reference.

    ``nginx`` -> ``docker.io/library/nginx:latest``; a reference pinned by
    digest keeps its tag (if any) and gets no default tag.
    """
    if not isinstance(ref, str):
        raise ImageRefError(f"image reference must be a string, got {type(ref).__name__}: {ref!r}")
    text = ref.strip()
    if not text:
        raise ImageRefError("image reference is empty")
    if any(c.isspace() for c in text):
        raise ImageRefError(f"invalid image reference {ref!r}: contains whitespace")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ImageRefError(
                f"invalid digest {digest!r} in image reference {ref!r}: expected algorithm:hex, e.g. sha256:<64 hex>"
            )
        if digest.startswith("sha256:") and not _SHA256_RE.match(digest):
            raise ImageRefError(
                f"invalid sha256 digest {digest!r} in image reference {ref!r}: expected 64 lowercase hex digits"
            )
    tag = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ImageRefError(f"invalid tag {tag!r} in image reference {ref!r}")
    parts = text.split("/")
    if len(parts) > 1 and _is_registry(parts[0]):
        registry = normalize_registry(parts[0])
        path = parts[1:]
    else:
        registry = DEFAULT_REGISTRY
        path = parts
    if not path or any(not p for p in path):
        raise ImageRefError(f"invalid image reference {ref!r}: empty path component")
    for component in path:
        if not _COMPONENT_RE.match(component):
            raise ImageRefError(
                f"invalid image reference {ref!r}: path component {component!r} must be lowercase letters, digits and separators (. _ __ -)"
            )
    if registry == DEFAULT_REGISTRY and len(path) == 1:
        path = ["library", *path]
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return ImageRef(registry, "/".join(path), tag, digest)


def normalize_image(ref: str) -> str:
    """``nginx`` -> ``docker.io/library/nginx:latest``."""
    return str(parse_image(ref))


def mirror_image(ref: str, local_registry: str) -> str:
    """``quay.io/x/y:1`` -> ``<local_registry>/quay.io/x/y:1``."""
    return str(parse_image(ref).mirror(local_registry))


def is_sha256_digest(value: str) -> bool:
    return isinstance(value, str) and bool(_SHA256_RE.match(value))
