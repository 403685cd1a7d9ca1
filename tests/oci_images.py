"""OCI image content built in Python, for the tests that push, pull and bundle images.

Deterministic tar layers (gzip), configs, image manifests, indexes over several platforms
(with BuildKit attestation manifests when asked), layers shared across images; written as an
OCI layout, an oci-archive and a docker-archive. The ``test_images`` fixture (tests/conftest.py)
is one ``TestImages``; a test that needs other content builds its own from the same pieces.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files: dict[str, bytes]) -> bytes:
    """A deterministic tar layer (uncompressed)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def pseudo_random(seed: str, size: int) -> bytes:
    """Incompressible, deterministic bytes."""
    return random.Random(seed).randbytes(size)  # noqa: S311 - test data, not crypto


class Layer:
    """A gzip layer of incompressible data, named ``name`` inside (so each layer has its own digest)."""

    def __init__(self, name: str, size: int):
        self.raw = make_layer({f"{name}/data.bin": pseudo_random(name, size), f"{name}/id": name.encode()})
        self.gz = gzip.compress(self.raw, compresslevel=1, mtime=0)
        self.diff_id = sha(self.raw)
        self.digest = sha(self.gz)


class TestImages:
    """A set of images with shared layers and a two-platform index."""

    __test__ = False

    def __init__(self, layer_size: int = 256 * 1024):
        self.blobs: dict[str, bytes] = {}
        base = Layer("base", layer_size)
        self.layers = {n: Layer(n, layer_size) for n in ("app1", "app2", "amd64", "arm64")}
        self.layers["base"] = base
        # name -> (top digest, media type)
        self.images: dict[str, tuple[str, str]] = {}
        self.single("quay.io/gauntlet/base:1", ["base", "app1"])
        self.single("docker.io/gauntlet/app:2", ["base", "app2"])
        self.index("ghcr.io/gauntlet/multi:3", {"linux/amd64": ["base", "amd64"], "linux/arm64": ["base", "arm64"]})

    def _add(self, data: bytes) -> str:
        digest = sha(data)
        self.blobs[digest] = data
        return digest

    def _manifest(self, layer_names: list[str], platform: str) -> tuple[bytes, bytes]:
        os_, arch = platform.split("/")
        layers = [self.layers[n] for n in layer_names]
        config = json.dumps(
            {
                "architecture": arch,
                "os": os_,
                "config": {"Cmd": ["/bin/true"]},
                "rootfs": {"type": "layers", "diff_ids": [lyr.diff_id for lyr in layers]},
            },
            sort_keys=True,
        ).encode()
        for lyr in layers:
            self.blobs[lyr.digest] = lyr.gz
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MT_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": self._add(config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": lyr.digest,
                        "size": len(lyr.gz),
                    }
                    for lyr in layers
                ],
            },
            indent=3,  # unusual formatting: a re-serialising client would change the digest
        ).encode()
        return manifest, config

    def single(self, name: str, layer_names: list[str]) -> None:
        manifest, _unused = self._manifest(layer_names, "linux/amd64")
        self.images[name] = (self._add(manifest), MT_MANIFEST)

    def platform_manifest(self, layer_names: list[str], platform: str) -> dict:
        """The index entry of an image manifest for ``platform`` ("os/arch" or "os/arch/variant"); its blobs are added."""
        os_, arch, *variant = platform.split("/")
        manifest, _unused = self._manifest(layer_names, f"{os_}/{arch}")
        return {
            "mediaType": MT_MANIFEST,
            "digest": self._add(manifest),
            "size": len(manifest),
            "platform": {"os": os_, "architecture": arch, **({"variant": variant[0]} if variant else {})},
        }

    def index(
        self, name: str, platforms: dict[str, list[str]], attested: tuple[str, ...] = (), indent: int | None = None
    ) -> list[dict]:
        """An index over one manifest per platform, then an attestation manifest for each platform
        in ``attested``; returns the index's entries in that order. With ``indent`` the index is
        written in an unusual layout: a client that re-serialises it would change its digest."""
        children = {platform: self.platform_manifest(names, platform) for platform, names in platforms.items()}
        entries = list(children.values())
        for platform in attested:
            entry, blobs = attestation_manifest(children[platform]["digest"])
            self.blobs.update(blobs)
            entries.append(entry)
        index = json.dumps({"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": entries}, indent=indent).encode()
        self.images[name] = (self._add(index), MT_INDEX)
        return entries

    def write_layout(self, path: Path, names=None) -> Path:
        (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        entries = []
        for name, (digest, media_type) in self.images.items():
            if names and name not in names:
                continue
            entries.append(
                {
                    "mediaType": media_type,
                    "digest": digest,
                    "size": len(self.blobs[digest]),
                    "annotations": {"org.opencontainers.image.ref.name": name},
                }
            )
        (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
        for digest, data in self.blobs.items():
            (path / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return path

    def write_oci_archive(self, path: Path, workdir: Path) -> Path:
        layout = self.write_layout(workdir / "layout-for-archive")
        with tarfile.open(path, "w") as tar:
            for item in sorted(layout.rglob("*")):
                tar.add(item, arcname=str(item.relative_to(layout)), recursive=False)
        return path

    def write_docker_archive(self, path: Path) -> Path:
        """docker save style: <config>.json, <diffid>/layer.tar (uncompressed), manifest.json."""
        entries = []
        with tarfile.open(path, "w") as tar:

            def add(name: str, data: bytes) -> None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

            written = set()
            for name, (digest, media_type) in self.images.items():
                if media_type != MT_MANIFEST:
                    continue
                manifest = json.loads(self.blobs[digest])
                config = self.blobs[manifest["config"]["digest"]]
                config_name = manifest["config"]["digest"][7:] + ".json"
                add(config_name, config)
                layers = []
                for desc in manifest["layers"]:
                    layer = next(lyr for lyr in self.layers.values() if lyr.digest == desc["digest"])
                    member = f"{layer.diff_id[7:]}/layer.tar"
                    if member not in written:
                        add(member, layer.raw)
                        written.add(member)
                    layers.append(member)
                short = name.removeprefix("docker.io/")
                entries.append({"Config": config_name, "RepoTags": [short], "Layers": layers})
            add("manifest.json", json.dumps(entries).encode())
        return path


def attestation_manifest(described: str) -> tuple[dict, dict[str, bytes]]:
    """A BuildKit attestation manifest for the manifest ``described`` (an in-toto statement as its
    layer, platform unknown/unknown, moby/buildkit docs/attestations/attestation-storage.md): its
    index entry and its blobs."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "subject": described}).encode()
    config = b'{"architecture":"unknown","os":"unknown","config":{},"rootfs":{"type":"layers","diff_ids":[]}}'
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha(config),
                "size": len(config),
            },
            "layers": [{"mediaType": "application/vnd.in-toto+json", "digest": sha(statement), "size": len(statement)}],
        }
    ).encode()
    entry = {
        "mediaType": MT_MANIFEST,
        "digest": sha(manifest),
        "size": len(manifest),
        "platform": {"os": "unknown", "architecture": "unknown"},
        "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": described},
    }
    return entry, {sha(data): data for data in (statement, config, manifest)}
