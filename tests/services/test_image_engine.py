"""The image engine against a real registry (Debian's docker-registry)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
import urllib.error

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError, DigestMismatchError
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_archive import (
    DockerArchive,
    OciArchive,
    open_source,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_pull import pull_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import (
    RegistryAuthError,
    RegistryError,
    TransientError,
)
from oci_images import attestation_manifest

pytestmark = pytest.mark.integration

MULTI = "ghcr.io/gauntlet/multi:3"
BASE = "quay.io/gauntlet/base:1"
APP = "docker.io/gauntlet/app:2"


def client_for(reg, **extra) -> RegistryClient:
    return RegistryClient(reg.host, **reg.client_kwargs(**extra))


def assert_same_digests(reg, test_images):
    for name, (digest, _mt) in test_images.images.items():
        raw = reg.inspect_raw(name)  # the full upstream path is the repository path
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest, name


class NoReads(OciLayout):
    """A layout that fails when a layer is read (idempotence must not read layers)."""

    layers: frozenset = frozenset()

    def open_blob(self, digest):
        if digest in self.layers:
            raise AssertionError(f"layer {digest} was read")
        return super().open_blob(digest)


def test_push_round_trip_idempotent_and_mounts(registry, test_images, tmp_path):
    layout = test_images.write_layout(tmp_path / "bundle")
    client = client_for(registry)
    first = push_bundle(OciLayout(str(layout)), client, concurrency=4)
    assert first["changed"] is True
    assert {r["status"] for r in first["images"]} == {"pushed"}
    # The base layer is shared by three repositories: uploaded once, mounted twice.
    assert first["blobs_mounted"] >= 2
    assert first["bytes_pushed"] == sum(len(lyr.gz) for lyr in test_images.layers.values()) + sum(
        len(data) for d, data in test_images.blobs.items() if data.startswith(b"{") and b'"rootfs"' in data
    )
    assert_same_digests(registry, test_images)
    multi = next(r for r in first["images"] if r["name"] == MULTI)
    assert multi["platforms"] == ["linux/amd64", "linux/arm64"]
    assert multi["target"] == f"{registry.host}/{MULTI}"
    # Second run: nothing to do, no layer read.
    NoReads.layers = frozenset(lyr.digest for lyr in test_images.layers.values())
    second = push_bundle(NoReads(str(layout)), client_for(registry), concurrency=4)
    assert second["changed"] is False
    assert {r["status"] for r in second["images"]} == {"present"}
    assert second["bytes_pushed"] == 0


def test_check_mode_reports_without_writing(registry, test_images, tmp_path):
    layout = test_images.write_layout(tmp_path / "bundle")
    result = push_bundle(OciLayout(str(layout)), client_for(registry), check_mode=True)
    assert result["changed"] is True
    assert {r["status"] for r in result["images"]} == {"would_push"}
    assert result["bytes_pushed"] > 0
    assert registry.catalog() == []


def test_pull_into_layout_preserves_digests(registry_factory, test_images, tmp_path):
    upstream = registry_factory()
    push_bundle(OciLayout(str(test_images.write_layout(tmp_path / "src"))), client_for(upstream))
    layout = OciLayout(str(tmp_path / "pulled"), create=True)
    client = client_for(upstream)
    results = [pull_image(f"{upstream.host}/{name}", layout, client) for name in test_images.images]
    assert {r["status"] for r in results} == {"pulled"}
    by_name = {r["name"]: r for r in results}
    for name, (digest, _mt) in test_images.images.items():
        assert by_name[f"{upstream.host}/{name}"]["digest"] == digest
    assert by_name[f"{upstream.host}/{MULTI}"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert by_name[f"{upstream.host}/{BASE}"]["platforms"] == ["linux/amd64"]
    # skopeo reads our layout.
    skopeo = shutil.which("skopeo")
    if skopeo:
        raw = subprocess.run(
            [skopeo, "inspect", "--raw", f"oci:{layout.path}:{upstream.host}/{BASE}"], check=True, capture_output=True
        ).stdout
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == test_images.images[BASE][0]
    again = [pull_image(f"{upstream.host}/{name}", layout, client) for name in test_images.images]
    assert {r["status"] for r in again} == {"present"}
    assert sum(r["bytes"] for r in again) == 0


def test_htpasswd_auth_and_wrong_password(registry_factory, test_images, tmp_path):
    reg = registry_factory(auth=True)
    layout = OciLayout(str(test_images.write_layout(tmp_path / "bundle")))
    result = push_bundle(layout, client_for(reg), images=[BASE])
    assert result["changed"] is True
    with pytest.raises(RegistryAuthError, match="wrong username or password"):
        client_for(reg, password="wrong").ping()
    with pytest.raises(RegistryAuthError, match="wrong username or password"):
        push_bundle(layout, client_for(reg, password="wrong"), images=[APP])
    with pytest.raises(RegistryAuthError, match="requires authentication"):
        push_bundle(layout, client_for(reg, username=None, password=None), images=[APP])


def test_tls_with_generated_ca(registry_factory, test_images, tmp_path):
    reg = registry_factory(tls=True, auth=True)
    layout = OciLayout(str(test_images.write_layout(tmp_path / "bundle")))
    result = push_bundle(layout, client_for(reg))
    assert result["changed"] is True
    assert_same_digests(reg, test_images)
    with pytest.raises(RegistryError, match="ca_file"):
        client_for(reg, ca_file=None).ping()


def test_corrupt_blob_fails_clearly_and_leaves_no_tag(registry, test_images, tmp_path):
    layout_dir = test_images.write_layout(tmp_path / "bundle")
    victim = test_images.layers["app1"].digest
    path = layout_dir / "blobs" / "sha256" / victim[7:]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError) as info:
        push_bundle(OciLayout(str(layout_dir)), client_for(registry), images=[BASE])
    msg = str(info.value)
    assert f"digest mismatch for blob {victim} of {BASE}" in msg
    assert "rebuild it with playbooks/bundle.yml" in msg
    assert not registry.has_manifest("quay.io/gauntlet/base", "1")


def test_truncated_archive(test_images, tmp_path):
    archive = test_images.write_oci_archive(tmp_path / "images.tar", tmp_path)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(ContentError, match="truncated"):
        open_source(str(archive))


def test_registry_down_mid_push_then_rerun(registry_factory, test_images, tmp_path):
    reg = registry_factory()
    layout_dir = test_images.write_layout(tmp_path / "bundle")

    class Killer(OciLayout):
        """Stops the registry after some layer bytes went out."""

        def open_blob(self, digest):
            raw = super().open_blob(digest)
            if digest != test_images.layers["base"].digest:
                return raw

            class Reader:
                sent = 0

                def read(self, n=-1):
                    chunk = raw.read(min(n, 64 * 1024) if n and n > 0 else 64 * 1024)
                    Reader.sent += len(chunk)
                    if Reader.sent > 100 * 1024:
                        reg.stop()
                    return chunk

                def close(self):
                    raw.close()

            return Reader()

    with pytest.raises((TransientError, RegistryError)) as info:
        push_bundle(Killer(str(layout_dir)), client_for(reg), concurrency=1)
    assert "registry" in str(info.value)
    reg.start()
    result = push_bundle(OciLayout(str(layout_dir)), client_for(reg))
    assert result["changed"] is True
    assert_same_digests(reg, test_images)
    assert push_bundle(OciLayout(str(layout_dir)), client_for(reg))["changed"] is False


def test_unknown_media_type(registry, test_images, tmp_path):
    layout_dir = test_images.write_layout(tmp_path / "bundle")
    odd = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example.unknown+json", "layers": []}).encode()
    digest = "sha256:" + hashlib.sha256(odd).hexdigest()
    (layout_dir / "blobs" / "sha256" / digest[7:]).write_bytes(odd)
    index = json.loads((layout_dir / "index.json").read_text())
    index["manifests"].append(
        {
            "mediaType": "application/vnd.example.unknown+json",
            "digest": digest,
            "size": len(odd),
            "annotations": {"org.opencontainers.image.ref.name": "quay.io/odd/thing:1"},
        }
    )
    (layout_dir / "index.json").write_text(json.dumps(index))
    with pytest.raises(ContentError, match=r"unsupported manifest media type 'application/vnd.example.unknown\+json'"):
        push_bundle(OciLayout(str(layout_dir)), client_for(registry))
    assert registry.catalog() == []


def test_oci_archive_push(registry, test_images, tmp_path):
    archive = test_images.write_oci_archive(tmp_path / "images.tar", tmp_path)
    source = open_source(str(archive))
    assert isinstance(source, OciArchive)
    assert push_bundle(source, client_for(registry))["changed"] is True
    assert_same_digests(registry, test_images)
    assert push_bundle(open_source(str(archive)), client_for(registry))["changed"] is False


def test_docker_archive_push(registry, test_images, tmp_path):
    archive = test_images.write_docker_archive(tmp_path / "docker.tar")
    source = open_source(str(archive))
    assert isinstance(source, DockerArchive)
    names = sorted(e.name for e in source.entries())
    assert names == [APP, BASE]
    first = push_bundle(source, client_for(registry))
    assert first["changed"] is True
    # Layers keep their uncompressed digests (the config's diff_ids).
    raw = json.loads(registry.inspect_raw(BASE))
    assert [lyr["digest"] for lyr in raw["layers"]] == [
        test_images.layers["base"].diff_id,
        test_images.layers["app1"].diff_id,
    ]
    # Deterministic synthesised manifest: a rerun is a no-op.
    assert push_bundle(open_source(str(archive)), client_for(registry))["changed"] is False


def test_skopeo_archives_are_readable(registry_factory, test_images, tmp_path):
    """Archives written by skopeo (a peer) push with the digests skopeo reports."""
    skopeo = shutil.which("skopeo")
    if not skopeo:
        pytest.skip("skopeo is not installed")
    src = registry_factory()
    push_bundle(OciLayout(str(test_images.write_layout(tmp_path / "src"))), client_for(src))
    oci_tar = tmp_path / "skopeo-oci.tar"
    docker_tar = tmp_path / "skopeo-docker.tar"
    subprocess.run(
        [
            skopeo,
            "copy",
            "--all",
            "--src-tls-verify=false",
            f"docker://{src.host}/{MULTI}",
            f"oci-archive:{oci_tar}:{MULTI}",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [skopeo, "copy", "--src-tls-verify=false", f"docker://{src.host}/{APP}", f"docker-archive:{docker_tar}:{APP}"],
        check=True,
        capture_output=True,
    )
    dst = registry_factory()
    assert push_bundle(open_source(str(oci_tar)), client_for(dst))["changed"] is True
    assert "sha256:" + hashlib.sha256(dst.inspect_raw(MULTI)).hexdigest() == test_images.images[MULTI][0]
    result = push_bundle(open_source(str(docker_tar)), client_for(dst))
    assert [r["name"] for r in result["images"]] == [APP]
    assert push_bundle(open_source(str(docker_tar)), client_for(dst))["changed"] is False


def test_chunked_upload(registry, test_images, tmp_path):
    layout = OciLayout(str(test_images.write_layout(tmp_path / "bundle")))
    client = client_for(registry, monolithic_max=1024, chunk_size=100 * 1024)
    assert push_bundle(layout, client, images=[BASE])["changed"] is True
    assert "sha256:" + hashlib.sha256(registry.inspect_raw(BASE)).hexdigest() == test_images.images[BASE][0]


# -- the engine's edges (issue 17) ----------------------------------------------


class AttemptCounter(RegistryClient):
    """A spy on the real client: counts the DELETEs it sends (session cleanup) beside stats['requests']."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deletes = 0

    def _request(self, method, path, **kwargs):
        if method == "DELETE":
            self.deletes += 1
        return super()._request(method, path, **kwargs)


def killing_layout(layout_dir, reg, victim: str, client: AttemptCounter, at_kill: dict):
    """A layout whose ``victim`` blob stops the registry (the real process, killed) mid-upload."""

    class Killer(OciLayout):
        def open_blob(self, digest):
            raw = super().open_blob(digest)
            if digest != victim:
                return raw

            class Reader:
                sent = 0

                def read(self, n=-1):
                    chunk = raw.read(min(n, 64 * 1024) if n and n > 0 else 64 * 1024)
                    Reader.sent += len(chunk)
                    if Reader.sent > 100 * 1024 and reg.proc is not None:
                        reg.stop()
                        at_kill.update(requests=client.stats["requests"], deletes=client.deletes)
                    return chunk

                def close(self):
                    raw.close()

            return Reader()

    return Killer(str(layout_dir))


@pytest.mark.parametrize("concurrency", [1, 3])
def test_registry_dying_mid_push_costs_the_documented_attempts(registry_factory, test_images, tmp_path, concurrency):
    """One retry budget per request: ``retries`` + 1 attempts for the upload that was cut, and after
    the first fatal failure no queued transfer starts (each in-flight one spends at most its own budget)."""
    reg = registry_factory()
    layout_dir = test_images.write_layout(tmp_path / "bundle")
    retries = 4
    client = AttemptCounter(reg.host, **reg.client_kwargs(retries=retries, backoff=0.01))
    at_kill: dict = {}
    victim = test_images.layers["base"].digest
    with pytest.raises(TransientError, match=r"cannot reach registry"):
        push_bundle(killing_layout(layout_dir, reg, victim, client, at_kill), client, concurrency=concurrency)
    assert at_kill, "the registry was not stopped mid-upload"
    # Attempts after the kill: every request sent since, less the DELETEs that close upload sessions.
    after = client.stats["requests"] - at_kill["requests"] - (client.deletes - at_kill["deletes"])
    if concurrency == 1:
        # The cut upload (1) plus its retries: nothing else runs.
        assert 1 + after == retries + 1, f"{1 + after} attempts, documented: {retries + 1}"
    else:
        # At most the transfers in flight at the kill, each with one budget; none started from the queue.
        assert after <= concurrency * (retries + 1), f"{after} attempts after the kill with concurrency {concurrency}"


def test_plain_http_against_tls_registry_says_so_at_once(registry_factory, test_images, tmp_path):
    reg = registry_factory(tls=True)
    client = client_for(reg, plain_http=True, ca_file=None, retries=4, backoff=0.5)
    layout = OciLayout(str(test_images.write_layout(tmp_path / "bundle")))
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        push_bundle(layout, client, images=[BASE])
    assert not isinstance(info.value, TransientError)
    msg = str(info.value)
    assert "speaks HTTPS" in msg and "plain_http" in msg and "false" in msg, msg
    assert client.stats["retries"] == 0
    assert time.monotonic() - started < 2


def test_tls_against_plain_http_registry_says_so_at_once(registry_factory, test_images, tmp_path):
    reg = registry_factory()
    client = client_for(reg, plain_http=False, retries=4, backoff=0.5)
    layout = OciLayout(str(test_images.write_layout(tmp_path / "bundle")))
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        push_bundle(layout, client, images=[BASE])
    assert not isinstance(info.value, TransientError)
    msg = str(info.value)
    assert "plain HTTP" in msg and "plain_http: true" in msg, msg
    assert client.stats["retries"] == 0
    assert time.monotonic() - started < 2
    with pytest.raises(RegistryError, match="plain HTTP"):
        pull_image(f"{reg.host}/{BASE}", OciLayout(str(tmp_path / "pulled"), create=True), client)


def _rewrite_manifest(layout_dir, test_images, name: str, edit) -> str:
    """Change the manifest of ``name`` in a written layout with ``edit(obj)``; return the new digest."""
    old = test_images.images[name][0]
    obj = json.loads(test_images.blobs[old])
    edit(obj)
    data = json.dumps(obj).encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout_dir / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    index = json.loads((layout_dir / "index.json").read_text())
    for entry in index["manifests"]:
        if entry["digest"] == old:
            entry.update(digest=digest, size=len(data))
    (layout_dir / "index.json").write_text(json.dumps(index))
    return digest


@pytest.mark.parametrize(
    ("part", "media_type"),
    [("layer", "application/vnd.example.weird.layer"), ("config", "application/vnd.example.weird.config+json")],
)
def test_unknown_layer_or_config_media_type_stops_before_any_write(registry, test_images, tmp_path, part, media_type):
    layout_dir = test_images.write_layout(tmp_path / "bundle")

    def edit(obj):
        (obj["layers"][1] if part == "layer" else obj["config"])["mediaType"] = media_type

    _rewrite_manifest(layout_dir, test_images, BASE, edit)
    with pytest.raises(ContentError) as info:
        push_bundle(OciLayout(str(layout_dir)), client_for(registry))
    msg = str(info.value)
    assert f"unsupported {part} media type {media_type!r}" in msg, msg
    assert BASE in msg
    assert registry.catalog() == []


def test_attestation_manifests_of_an_index_are_pushed(registry, test_images, tmp_path):
    """BuildKit indexes carry attestation manifests (in-toto layers, platform unknown/unknown): real images, kept."""
    layout_dir = test_images.write_layout(tmp_path / "bundle")
    amd64 = json.loads(test_images.blobs[test_images.images[MULTI][0]])["manifests"][0]["digest"]
    attestation, blobs = attestation_manifest(amd64)
    for digest, data in blobs.items():
        (layout_dir / "blobs" / "sha256" / digest[7:]).write_bytes(data)

    def edit(obj):
        obj["manifests"].append(attestation)

    digest = _rewrite_manifest(layout_dir, test_images, MULTI, edit)
    result = push_bundle(OciLayout(str(layout_dir)), client_for(registry), images=[MULTI])
    assert result["images"][0]["digest"] == digest
    assert "sha256:" + hashlib.sha256(registry.inspect_raw(MULTI)).hexdigest() == digest


def test_in_toto_layer_outside_an_attestation_manifest_is_refused(registry, test_images, tmp_path):
    layout_dir = test_images.write_layout(tmp_path / "bundle")

    def edit(obj):
        obj["layers"][0]["mediaType"] = "application/vnd.in-toto+json"

    _rewrite_manifest(layout_dir, test_images, BASE, edit)
    with pytest.raises(ContentError, match=r"unsupported layer media type 'application/vnd.in-toto\+json'"):
        push_bundle(OciLayout(str(layout_dir)), client_for(registry))


def test_index_entry_without_a_name_says_how_to_name_it(test_images, tmp_path):
    layout_dir = test_images.write_layout(tmp_path / "bundle")
    index = json.loads((layout_dir / "index.json").read_text())
    del index["manifests"][0]["annotations"]
    index["manifests"][1]["annotations"] = {"org.opencontainers.image.ref.name": "1.27"}
    (layout_dir / "index.json").write_text(json.dumps(index))
    with pytest.raises(ContentError) as info:
        OciLayout(str(layout_dir)).entries()
    msg = str(info.value)
    assert "None" not in msg, msg
    assert "has no image name" in msg
    # How to name it: the annotation to add, with a full reference, in the file that holds the entry.
    assert '"annotations": {"org.opencontainers.image.ref.name": "docker.io/library/nginx:1.27"}' in msg, msg
    assert str(layout_dir / "index.json") in msg
    index["manifests"][0]["annotations"] = {"org.opencontainers.image.ref.name": "quay.io/gauntlet/base:1"}
    (layout_dir / "index.json").write_text(json.dumps(index))
    with pytest.raises(ContentError) as info:
        OciLayout(str(layout_dir)).entries()
    assert "holds only the tag '1.27'" in str(info.value), str(info.value)


class SessionSpy(RegistryClient):
    """A spy on the real client: remembers the upload session URLs the registry handed out."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sessions: list[str] = []

    def _start_upload(self, repo):
        location = super()._start_upload(repo)
        self.sessions.append(location)
        return location


def session_state(reg, location: str) -> int:
    """HTTP status of GET on an upload session URL: 204 while the registry holds it, 404 once closed."""
    path = location.split(reg.host, 1)[-1]
    try:
        with reg._open(path):
            return 204
    except urllib.error.HTTPError as exc:
        return exc.code


def test_failed_single_request_upload_closes_its_session(registry, test_images, tmp_path):
    layout_dir = test_images.write_layout(tmp_path / "bundle")
    victim = test_images.layers["app1"].digest
    path = layout_dir / "blobs" / "sha256" / victim[7:]
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    client = SessionSpy(registry.host, **registry.client_kwargs())
    with pytest.raises(DigestMismatchError):
        push_bundle(OciLayout(str(layout_dir)), client, images=[BASE], concurrency=1)
    assert client.sessions, "no upload was started"
    # The last session is the one whose body failed: the registry no longer knows it.
    assert session_state(registry, client.sessions[-1]) == 404
    # distribution's filesystem driver keeps a session as _uploads/<id>/{startedat,data}: both gone.
    left = [p for p in registry.storage.rglob("_uploads/*/*") if p.name in ("startedat", "data")]
    assert left == []
