"""The bundle's platform filter against the real registry (Debian's docker-registry) and skopeo.

A real three-platform index (linux/amd64, linux/arm64/v8, linux/s390x, plus a BuildKit
attestation manifest for amd64 and one for s390x) is pushed to an "upstream" registry, bundled
with ``platforms: [linux/amd64, linux/arm64]`` and preloaded into a second registry; skopeo, a
peer client, then pulls from it. Why the bundle holds a reduced index, not the upstream one:
module_utils/oci/image_platforms.py and docs/images.md, "Platform filter".
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_pull import pull_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryError
from oci_images import Layer, TestImages, sha
from registry_server import need_binary

pytestmark = pytest.mark.integration

TRI = "ghcr.io/gauntlet/tri:1"
SINGLE = "quay.io/gauntlet/base:1"  # TestImages: linux/amd64 only
WANTED = ["linux/amd64", "linux/arm64"]


class TriImages(TestImages):
    """TestImages plus a three-platform index with attestation manifests (small layers)."""

    __test__ = False

    def __init__(self):
        super().__init__(layer_size=32 * 1024)
        self.layers["s390x"] = Layer("s390x", 32 * 1024)
        platforms = {
            "linux/amd64": ["base", "amd64"],
            "linux/arm64/v8": ["base", "arm64"],
            "linux/s390x": ["base", "s390x"],
        }
        # Provenance for amd64 and s390x. Indented: a client that re-serialised the index would change its digest.
        entries = self.index(TRI, platforms, attested=("linux/amd64", "linux/s390x"), indent=2)
        self.children = {c["platform"]["architecture"]: c["digest"] for c in entries[:3]}
        self.attestations = {"amd64": entries[3]["digest"], "s390x": entries[4]["digest"]}

    def layer_digest(self, arch: str) -> str:
        return self.layers[arch].digest


@pytest.fixture(scope="module")
def tri() -> TriImages:
    return TriImages()


def client_for(reg) -> RegistryClient:
    return RegistryClient(reg.host, **reg.client_kwargs())


@pytest.fixture
def upstream(registry_factory, tri, tmp_path):
    reg = registry_factory()
    push_bundle(OciLayout(str(tri.write_layout(tmp_path / "upstream-src"))), client_for(reg))
    return reg


def skopeo_copy(reg, ref: str, arch: str, dest) -> subprocess.CompletedProcess:
    skopeo = need_binary("skopeo")
    return subprocess.run(
        [
            skopeo,
            "copy",
            "--override-os",
            "linux",
            "--override-arch",
            arch,
            *reg.skopeo_args(),
            f"docker://{reg.host}/{ref}",
            f"dir:{dest}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_registry_refuses_the_upstream_index_without_all_its_children(registry, tri, tmp_path):
    """The alternative design (upstream bytes and digest, fewer children) cannot be pushed: distribution
    checks every child of an index (manifestlisthandler.go verifyManifest: MANIFEST_BLOB_UNKNOWN)."""
    layout = OciLayout(str(tri.write_layout(tmp_path / "src", names=[TRI])))
    client = client_for(registry)
    repo = "ghcr.io/gauntlet/tri"
    for arch in ("amd64", "arm64"):  # the children the filter would keep, with their blobs
        manifest = tri.blobs[tri.children[arch]]
        for desc in [json.loads(manifest)["config"], *json.loads(manifest)["layers"]]:
            client.upload_blob(
                repo, desc["digest"], desc["size"], lambda d=desc["digest"]: layout.open_blob(d), where="test"
            )
        client.put_manifest(repo, tri.children[arch], manifest, "application/vnd.oci.image.manifest.v1+json")
    index_digest, media_type = tri.images[TRI]
    with pytest.raises(RegistryError) as refused:
        client.put_manifest(repo, "1", tri.blobs[index_digest], media_type)
    assert "MANIFEST_BLOB_UNKNOWN" in str(refused.value) or "manifest blob unknown" in str(refused.value).lower()
    assert not registry.has_manifest(repo, "1")


def test_filtered_bundle_carries_only_the_asked_platforms_and_preloads(upstream, registry_factory, tri, tmp_path):
    layout = OciLayout(str(tmp_path / "bundle"), create=True)
    client = client_for(upstream)
    image = f"{upstream.host}/{TRI}"
    result = pull_image(image, layout, client, platforms=WANTED)

    full = tri.images[TRI][0]
    assert result["status"] == "pulled"
    assert result["upstream_digest"] == full
    assert result["digest"] != full
    assert result["dropped_platforms"] == ["linux/s390x"]
    assert result["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    reduced = json.loads(layout.read_blob(result["digest"], "test"))
    kept = {d["digest"] for d in reduced["manifests"]}
    # amd64 and arm64 with amd64's attestation; s390x and its attestation are gone.
    assert kept == {tri.children["amd64"], tri.children["arm64"], tri.attestations["amd64"]}
    assert reduced["mediaType"] == "application/vnd.oci.image.index.v1+json"
    for arch in ("amd64", "arm64", "base"):
        assert layout.has_blob(tri.layer_digest(arch)), arch
    assert not layout.has_blob(tri.layer_digest("s390x"))
    assert not layout.has_blob(tri.children["s390x"])
    assert not layout.has_blob(tri.attestations["s390x"])
    assert result["bytes"] < sum(len(b) for b in tri.blobs.values())

    again = pull_image(image, layout, client, platforms=WANTED)
    assert (again["status"], again["bytes"], again["digest"]) == ("present", 0, result["digest"])

    # Preload into the platform's registry: the reduced index is complete, the registry accepts it.
    target = registry_factory()
    pushed = push_bundle(OciLayout(layout.path), client_for(target))
    assert pushed["images"][0]["status"] == "pushed"
    ref = pushed["images"][0]["target"].removeprefix(f"{target.host}/")
    assert "sha256:" + hashlib.sha256(target.inspect_raw(ref)).hexdigest() == result["digest"]
    repo = ref.rsplit(":", 1)[0]

    # Pulling the asked platforms, by tag and by the (reduced) index digest, works with a peer client.
    by_tag = skopeo_copy(target, ref, "arm64", tmp_path / "arm64")
    assert by_tag.returncode == 0, by_tag.stderr
    manifest = json.loads((tmp_path / "arm64" / "manifest.json").read_bytes())
    assert sha((tmp_path / "arm64" / "manifest.json").read_bytes()) == tri.children["arm64"]
    assert manifest["layers"][-1]["digest"] == tri.layer_digest("arm64")
    by_digest = skopeo_copy(target, f"{repo}@{result['digest']}", "amd64", tmp_path / "amd64")
    assert by_digest.returncode == 0, by_digest.stderr
    assert sha((tmp_path / "amd64" / "manifest.json").read_bytes()) == tri.children["amd64"]

    # The platform left out: a clear error from the client, nothing half-pulled; the upstream digest is unknown there.
    s390x = skopeo_copy(target, ref, "s390x", tmp_path / "s390x")
    assert s390x.returncode != 0
    assert "s390x" in s390x.stderr and "no image found" in s390x.stderr.lower(), s390x.stderr
    assert not target.has_manifest(repo, tri.children["s390x"])
    assert not target.has_manifest(repo, full)


def test_a_missing_platform_stops_the_bundle_naming_it(upstream, tmp_path):
    layout = OciLayout(str(tmp_path / "bundle"), create=True)
    client = client_for(upstream)
    with pytest.raises(ContentError) as index_error:
        pull_image(f"{upstream.host}/{TRI}", layout, client, platforms=["linux/amd64", "linux/riscv64"])
    message = str(index_error.value)
    assert "has no manifest for linux/riscv64" in message
    assert "linux/amd64, linux/arm64/v8, linux/s390x" in message
    assert "gauntlet_arch" in message
    with pytest.raises(ContentError) as single_error:
        pull_image(f"{upstream.host}/{SINGLE}", layout, client, platforms=WANTED)
    assert "has no manifest for linux/arm64 (it has linux/amd64)" in str(single_error.value)
    assert not list(layout.entries())  # neither image was recorded


def test_a_reference_pinned_by_digest_keeps_its_whole_index(upstream, tri, tmp_path):
    layout = OciLayout(str(tmp_path / "bundle"), create=True)
    full = tri.images[TRI][0]
    result = pull_image(
        f"{upstream.host}/{TRI.split(':', maxsplit=1)[0]}@{full}", layout, client_for(upstream), platforms=WANTED
    )
    assert result["digest"] == full
    assert "upstream_digest" not in result
    assert result["platforms"] == ["linux/amd64", "linux/arm64/v8", "linux/s390x"]
    assert layout.has_blob(tri.layer_digest("s390x"))
