# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""OCI / Docker content: media types, manifest parsing, verified streaming.

Stdlib only.
"""

from __future__ import annotations

import hashlib
import json
import re

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
MT_IN_TOTO = "application/vnd.in-toto+json"

INDEX_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_LIST})
IMAGE_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})
MANIFEST_TYPES = INDEX_TYPES | IMAGE_TYPES
ACCEPT_MANIFESTS = ", ".join(sorted(MANIFEST_TYPES))
# What an image manifest may reference (docs/images.md, "Media types"): the OCI image spec's config and
# distributable layer types (opencontainers/image-spec media-types.md) and Docker's schema 2 ones
# (distribution's manifest/schema2: MediaTypeImageConfig, MediaTypeLayer, MediaTypeUncompressedLayer).
# Non-distributable ("foreign") layers are not: their content lives at URLs outside the bundle.
CONFIG_TYPES = frozenset({MT_OCI_CONFIG, MT_DOCKER_CONFIG})
LAYER_TYPES = frozenset(
    {MT_OCI_LAYER_TAR, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD, MT_DOCKER_LAYER_GZIP, MT_DOCKER_LAYER_TAR}
)
# BuildKit's attestation manifests (index entries annotated vnd.docker.reference.type=attestation-manifest,
# moby/buildkit docs/attestations/attestation-storage.md) hold in-toto statements as their layers.
ANNOTATION_REFERENCE_TYPE = "vnd.docker.reference.type"
ATTESTATION_MANIFEST = "attestation-manifest"
ATTESTATION_LAYER_TYPES = frozenset({MT_IN_TOTO})

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
# Large reads: layers are streamed in 1 MiB pieces, never held whole in memory.
READ_SIZE = 1 << 20


class ContentError(Exception):
    """Invalid or unsupported content; the message says what to do."""


class DigestMismatchError(ContentError):
    """Bytes whose sha256 differs from the digest that names them."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest, where: str) -> str:
    if not isinstance(digest, str) or not _DIGEST_RE.match(digest):
        raise ContentError(f"{where}: unsupported or invalid digest {digest!r} (only sha256:<64 hex> is supported)")
    return digest


def verify_bytes(data: bytes, digest: str, where: str) -> bytes:
    actual = sha256_digest(data)
    if actual != digest:
        raise DigestMismatchError(f"digest mismatch for {where}: expected {digest}, got {actual}")
    return data


def parse_manifest(data: bytes, media_type_hint: str | None, where: str, attestation: bool = False) -> tuple[str, dict]:
    """Return (media type, manifest object); unknown media types are an error, for the manifest
    and for what an image manifest references (config, layers; in-toto layers only when
    ``attestation``: the manifest is an index's attestation entry)."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ContentError(f"{where}: manifest is not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ContentError(f"{where}: manifest is not a JSON object")
    media_type = obj.get("mediaType") or media_type_hint
    if not media_type:
        # OCI allows omitting mediaType: infer from the shape.
        media_type = MT_OCI_INDEX if "manifests" in obj else MT_OCI_MANIFEST
    if media_type not in MANIFEST_TYPES:
        raise ContentError(
            f"{where}: unsupported manifest media type {media_type!r}; supported: {', '.join(sorted(MANIFEST_TYPES))}. "
            "Docker schema 1 and artifact manifests are not supported: rebuild the bundle from a current image"
        )
    if obj.get("schemaVersion") != 2:
        raise ContentError(f"{where}: manifest schemaVersion {obj.get('schemaVersion')!r} is not supported (need 2)")
    key = "manifests" if media_type in INDEX_TYPES else "layers"
    if not isinstance(obj.get(key), list):
        raise ContentError(f"{where}: manifest of type {media_type} has no {key!r} list")
    for desc in descriptors(obj, media_type):
        if not isinstance(desc, dict) or not isinstance(desc.get("size"), int) or desc["size"] < 0:
            raise ContentError(f"{where}: invalid descriptor {desc!r}")
        check_digest(desc.get("digest"), where)
    if media_type in IMAGE_TYPES:
        _check_content_types(obj, where, attestation)
    return media_type, obj


def _check_content_types(obj: dict, where: str, attestation: bool) -> None:
    layer_types = LAYER_TYPES | ATTESTATION_LAYER_TYPES if attestation else LAYER_TYPES
    parts = [("config", obj["config"], CONFIG_TYPES)] + [("layer", desc, layer_types) for desc in obj["layers"]]
    for part, desc, known in parts:
        got = desc.get("mediaType")
        if got not in known:
            raise ContentError(
                f"{where}: unsupported {part} media type {got!r} ({part} {desc['digest']}); supported: "
                f"{', '.join(sorted(known))}. Artifacts, foreign layers and other content are not images the "
                "platform runs: take the image out of the image list, or rebuild the bundle from a standard image"
            )


def descriptors(obj: dict, media_type: str) -> list[dict]:
    """Children of an index, or config + layers of an image manifest."""
    if media_type in INDEX_TYPES:
        return list(obj.get("manifests") or [])
    config = obj.get("config")
    if not isinstance(config, dict):
        raise ContentError(f"image manifest of type {media_type} has no config descriptor")
    return [config, *(obj.get("layers") or [])]


def platform_string(platform) -> str | None:
    if not isinstance(platform, dict) or not platform.get("os"):
        return None
    parts = [platform.get("os"), platform.get("architecture")]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(str(p) for p in parts if p)


class VerifyingReader:
    """A file-like reader that hashes what passes through and checks size and digest.

    Reads stop at ``size``; a source that ends early raises ContentError (so an
    HTTP upload never hangs on a short body); at the end the sha256 must equal
    ``digest`` or DigestMismatchError names the blob and ``where``.
    """

    def __init__(self, raw, digest: str, size: int, where: str):
        self._raw = raw
        self.digest = digest
        self.size = size
        self.where = where
        self._hash = hashlib.sha256()
        self.count = 0
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        remaining = self.size - self.count
        if remaining <= 0:
            self._finish()
            return b""
        if n is None or n < 0 or n > remaining:
            n = remaining
        data = self._raw.read(n)
        if not data:
            raise ContentError(
                f"{self.where}: blob {self.digest} ended after {self.count} of {self.size} bytes; "
                "the source is truncated or corrupt, rebuild it with playbooks/bundle.yml"
            )
        self._hash.update(data)
        self.count += len(data)
        if self.count >= self.size:
            self._finish()
        return data

    def _finish(self) -> None:
        if self._checked:
            return
        self._checked = True
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self.digest:
            raise DigestMismatchError(
                f"digest mismatch for blob {self.digest} of {self.where}: expected {self.digest}, got {actual}; "
                "the bundle is corrupt, rebuild it with playbooks/bundle.yml"
            )

    def drain(self) -> None:
        """Read to the end (verifying)."""
        while self.read(READ_SIZE):
            pass

    def close(self) -> None:
        close = getattr(self._raw, "close", None)
        if close:
            close()
