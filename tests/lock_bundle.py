"""A bundle folder with real OCI content for the images row: a lock and an OCI layout.

Each image gets a config and an image manifest per platform (real JSON, hashed: the digests
are what a registry and containerd would compute for these bytes), and, with more than one
platform, an index over them; the lock records the index (or the single manifest), as
playbooks/bundle.yml does. Layers are a single tiny blob shared by every image: the row never
reads layers. Not an image anyone can run: content for the digest bookkeeping only.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    MT_OCI_CONFIG,
    MT_OCI_INDEX,
    MT_OCI_LAYER_GZIP,
    MT_OCI_MANIFEST,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: OciLayout, obj) -> tuple[str, int]:
    data = obj if isinstance(obj, bytes) else json.dumps(obj, sort_keys=True).encode()
    digest = sha(data)
    layout.write_bytes(digest, data, "test content")
    return digest, len(data)


def make_bundle(folder: Path, images: dict[str, list[str]]) -> dict[str, dict]:
    """Write ``folder/bundle.lock.json`` and ``folder/images`` (an OCI layout) for ``images``
    ({name: ["linux/amd64", ...]}); returns {name: {"locked": digest, "platforms": {platform:
    {"manifest": digest, "config": digest}}}}."""
    layout = OciLayout(str(folder / "images"), create=True)
    lock = bundle_lock.empty_lock()
    layer, layer_size = _blob(layout, b"\x1f\x8b gauntlet test layer")
    out = {}
    for name, platforms in images.items():
        children = []
        info = {"platforms": {}}
        for platform in platforms:
            os_name, arch = platform.split("/")[:2]
            config, config_size = _blob(
                layout, {"architecture": arch, "os": os_name, "config": {"Labels": {"image": name}}, "rootfs": {}}
            )
            manifest = {
                "schemaVersion": 2,
                "mediaType": MT_OCI_MANIFEST,
                "config": {"mediaType": MT_OCI_CONFIG, "digest": config, "size": config_size},
                "layers": [{"mediaType": MT_OCI_LAYER_GZIP, "digest": layer, "size": layer_size}],
            }
            digest, size = _blob(layout, manifest)
            info["platforms"][platform] = {"manifest": digest, "config": config}
            children.append(
                {
                    "mediaType": MT_OCI_MANIFEST,
                    "digest": digest,
                    "size": size,
                    "platform": {"os": os_name, "architecture": arch},
                }
            )
        if len(children) == 1:
            top, media_type = children[0], MT_OCI_MANIFEST
        else:
            digest, size = _blob(layout, {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": children})
            top, media_type = {"mediaType": MT_OCI_INDEX, "digest": digest, "size": size}, MT_OCI_INDEX
        layout.set_image(name, top)
        bundle_lock.set_image(lock, name, top["digest"], media_type=media_type, platforms=platforms)
        info["locked"] = top["digest"]
        out[name] = info
    bundle_lock.write_lock(str(folder / "bundle.lock.json"), lock)
    return out
