"""playbooks/bundle.yml end to end, with loopback stand-ins for upstream: a local HTTP
server for the files and a real docker-registry for the images. No internet."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from oci_images import Layer, TestImages

REPO = Path(__file__).resolve().parents[2]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    root = tmp_path / "upstream-files"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def upstream(registry_factory, test_images, tmp_path, file_server):
    """Files and images where bundle.yml will look for them; returns the bundle inventory."""
    registry = registry_factory()
    push_bundle(
        OciLayout(str(test_images.write_layout(tmp_path / "src"))), RegistryClient(registry.host, plain_http=True)
    )
    root, base_url = file_server
    binary = b"#!/bin/sh\necho stand-in k3s\n"
    (root / "k3s").write_bytes(binary)
    (root / "sha256sum-amd64.txt").write_text(f"{hashlib.sha256(binary).hexdigest()}  k3s\n")
    manifest = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "demo"},
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "c", "image": f"{registry.host}/quay.io/gauntlet/base:1"}]}
                }
            },
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "demo"},
            "spec": {
                "jobTemplate": {
                    "spec": {
                        "template": {
                            "spec": {
                                "initContainers": [{"name": "i", "image": f"{registry.host}/ghcr.io/gauntlet/multi:3"}]
                            }
                        }
                    }
                }
            },
        },
    ]
    text = yaml.safe_dump_all(manifest)
    (root / "install.yaml").write_text(text)
    extra_vars = {
        "gauntlet_bundle_dir": str(tmp_path / "bundle"),
        "gauntlet_bundle_plain_http_registries": [registry.host],
        "gauntlet_bundle_files": [
            {"name": "k3s/v0/k3s", "url": f"{base_url}/k3s", "checksum_url": f"{base_url}/sha256sum-amd64.txt"},
            {
                "name": "demo/install.yaml",
                "url": f"{base_url}/install.yaml",
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "manifest": True,
            },
        ],
        "gauntlet_bundle_extra_images": [f"{registry.host}/docker.io/gauntlet/app:2"],
        "gauntlet_bundle_image_lists": [],
        # The seed image build has its own test (test_seed_image.py).
        "gauntlet_bundle_builds": [],
        # So do the wheels (test_bundle_wheels.py, against a local index): none here.
        "gauntlet_bundle_wheel_requirements": [],
    }
    return registry, extra_vars, tmp_path


def write_vars(tmp_path, extra_vars):
    varfile = tmp_path / "bundle-vars.json"
    varfile.write_text(json.dumps(extra_vars))
    return f"@{varfile}"


def recap_changed(stdout):
    line = next(line for line in stdout.split("PLAY RECAP", 1)[1].splitlines() if line.startswith("localhost"))
    return int(line.split("changed=")[1].split()[0])


def test_bundle_downloads_checks_pulls_and_locks(upstream, test_images, run_playbook):
    registry, extra_vars, tmp_path = upstream
    first = run_playbook("bundle.yml", REPO / "inventory" / "sample", "-e", write_vars(tmp_path, extra_vars))
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    lock = json.loads((tmp_path / "bundle" / "bundle.lock.json").read_text())
    files = {entry["name"]: entry for entry in lock["files"]}
    assert (
        files["k3s/v0/k3s"]["sha256"] == hashlib.sha256((tmp_path / "bundle/files/k3s/v0/k3s").read_bytes()).hexdigest()
    )
    assert files["demo/install.yaml"]["url"].endswith("/install.yaml")
    locked = {entry["name"]: entry["digest"] for entry in lock["images"]}
    # Two images computed from the manifest (a Deployment container, a CronJob initContainer), one extra.
    assert locked == {f"{registry.host}/{name}": test_images.images[name][0] for name in test_images.images}
    assert "3 image(s)" in first.stdout

    second = run_playbook("bundle.yml", REPO / "inventory" / "sample", "-e", write_vars(tmp_path, extra_vars))
    assert second.returncode == 0, second.stdout[-3000:]
    assert recap_changed(second.stdout) == 0, second.stdout[-3000:]


def test_wrong_checksum_fails_clearly_and_keeps_the_lock(upstream, run_playbook):
    _registry, extra_vars, tmp_path = upstream
    extra_vars["gauntlet_bundle_files"][1]["sha256"] = "0" * 64
    result = run_playbook("bundle.yml", REPO / "inventory" / "sample", "-e", write_vars(tmp_path, extra_vars))
    assert result.returncode != 0
    assert "did not match" in result.stdout or "checksum" in result.stdout.lower(), result.stdout[-3000:]
    assert not (tmp_path / "bundle" / "bundle.lock.json").exists()
    assert not (tmp_path / "bundle" / "files" / "demo" / "install.yaml").exists()


def _index_names(layout_dir: Path) -> set:
    return {entry.name for entry in OciLayout(str(layout_dir)).entries()}


def _blobs_on_disk(layout_dir: Path) -> set:
    return {f"sha256:{p.name}" for p in (layout_dir / "blobs" / "sha256").iterdir()}


def _tree_digests(images, name: str) -> set:
    """Every manifest and blob of one test image (an index: its child manifests and theirs)."""
    top = images.images[name][0]
    found, todo = set(), [top]
    while todo:
        digest = todo.pop()
        found.add(digest)
        obj = json.loads(images.blobs[digest])
        todo += [m["digest"] for m in obj.get("manifests", [])]
        if "config" in obj:
            found |= {obj["config"]["digest"]} | {layer["digest"] for layer in obj["layers"]}
    return found


def test_a_rerun_drops_what_the_lists_no_longer_name(registry_factory, tmp_path, run_playbook, capsys):
    """After an upgrade (app:2 replaced by app:3 in the list, a file dropped) the bundle describes
    exactly the new lists: lock, images/index.json, blobs and files; the signed bundle verifies;
    preload no longer pushes app:2 and the registry prune (dry run) lists it; a rerun changes nothing."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import signature as bundle_signature
    from ansible_collections.gauntlet.platform.plugins.modules import registry_prune
    from needs import missing

    keygen = shutil.which("ssh-keygen")
    if not keygen:
        missing("ssh-keygen is not installed (Debian package openssh-client)")
    key = tmp_path / "signer"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", str(key)], check=True)
    # TestImages' set plus app:3: the shared base layer and a new one (app:2's app2 layer is its own).
    images = TestImages(layer_size=32 * 1024)
    images.layers["app3"] = Layer("app3", 32 * 1024)
    images.single("docker.io/gauntlet/app:3", ["base", "app3"])
    upstream = registry_factory()
    push_bundle(OciLayout(str(images.write_layout(tmp_path / "src"))), RegistryClient(upstream.host, plain_http=True))
    root = tmp_path / "upstream-files"
    root.mkdir()
    (root / "k3s").write_bytes(b"#!/bin/sh\necho k3s\n")
    (root / "notes.txt").write_bytes(b"only in the first bundle\n")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    bundle = tmp_path / "bundle"
    kept = ["quay.io/gauntlet/base:1", "ghcr.io/gauntlet/multi:3"]

    def build(files, names):
        variables = {
            "gauntlet_bundle_dir": str(bundle),
            "gauntlet_bundle_files": [
                {
                    "name": n,
                    "url": f"{url}/{n.rsplit('/', 1)[-1]}",
                    "sha256": hashlib.sha256((root / n.rsplit("/", 1)[-1]).read_bytes()).hexdigest(),
                }
                for n in files
            ],
            "gauntlet_bundle_extra_images": [f"{upstream.host}/{n}" for n in names],
            "gauntlet_bundle_plain_http_registries": [upstream.host],
            "gauntlet_bundle_image_lists": [],
            "gauntlet_bundle_builds": [],
            "gauntlet_bundle_wheel_requirements": [],
            "gauntlet_bundle_signing_key": str(key),
        }
        result = run_playbook("bundle.yml", REPO / "inventory/sample", "-e", write_vars(tmp_path, variables), "--diff")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result

    def run_prune(args):
        args = dict(args, _ansible_check_mode=True)
        with patch_module_args(args), pytest.raises(SystemExit):
            registry_prune.main()
        return json.loads(capsys.readouterr().out)

    try:
        build(["k3s/v1/k3s", "old/notes.txt"], [*kept, "docker.io/gauntlet/app:2"])
        # The platform's registry after preloading the first bundle.
        local = registry_factory()
        client = RegistryClient(local.host, plain_http=True)
        push_bundle(OciLayout(str(bundle / "images")), client)
        assert (bundle / "files/old/notes.txt").is_file()
        upgraded = build(["k3s/v1/k3s"], [*kept, "docker.io/gauntlet/app:3"])
        again = build(["k3s/v1/k3s"], [*kept, "docker.io/gauntlet/app:3"])
    finally:
        server.shutdown()
        server.server_close()

    wanted = {f"{upstream.host}/{n}" for n in [*kept, "docker.io/gauntlet/app:3"]}
    old_app = f"{upstream.host}/docker.io/gauntlet/app:2"
    lock = bundle_lock.load_lock(str(bundle / "bundle.lock.json"), missing_ok=False)
    assert {e["name"] for e in lock["images"]} == wanted
    assert [e["name"] for e in lock["files"]] == ["k3s/v1/k3s"]
    assert _index_names(bundle / "images") == wanted
    # Blobs: exactly those of the kept images (every child manifest of multi:3 too); app:2's own gone.
    needed = set().union(*(_tree_digests(images, n) for n in [*kept, "docker.io/gauntlet/app:3"]))
    assert _blobs_on_disk(bundle / "images") == needed
    assert images.layers["app2"].digest not in needed and images.layers["base"].digest in needed
    assert not (bundle / "files/old").exists()
    # The run names what it dropped, and --diff shows it leaving the lock.
    assert old_app in upgraded.stdout and "old/notes.txt" in upgraded.stdout
    assert re.search(rf'^-\s+"name": "{re.escape(old_app)}"', upgraded.stdout, re.M), upgraded.stdout[-4000:]
    assert f"Dropped, no longer listed: {old_app}, old/notes.txt" in upgraded.stdout, upgraded.stdout[-2000:]
    # The signed bundle verifies, layout included (what every offline playbook checks).
    public = (tmp_path / "signer.pub").read_text().strip()
    assert bundle_signature.verify(str(bundle / "bundle.lock.json"), public)
    assert bundle_signature.layout_problems(str(bundle / "bundle.lock.json"), str(bundle / "images")) == []
    assert recap_changed(again.stdout) == 0, again.stdout[-3000:]

    # Preloading the upgraded bundle pushes app:3, never app:2 again; the prune's dry run lists app:2.
    pushed = push_bundle(OciLayout(str(bundle / "images")), client)
    assert {i["name"] for i in pushed["images"]} == wanted
    report = run_prune({"lock_file": str(bundle / "bundle.lock.json"), "registry": local.host, "plain_http": True})
    host = upstream.host.replace(":", "_")
    assert [(i["repository"], i["tags"]) for i in report["delete"]] == [(f"{host}/docker.io/gauntlet/app", ["2"])]
    assert report["delete"][0]["digest"] == images.images["docker.io/gauntlet/app:2"][0]


def test_platform_filter_through_the_playbook(upstream, test_images, run_playbook):
    """gauntlet_bundle_platforms reaches the image engine (issue 17 item 12): the two-platform index is
    bundled reduced to linux/amd64, the lock keeps its upstream digest; a list that leaves out the
    nodes' architecture (inventory/sample: no gauntlet_arch, so amd64) stops before any download."""
    registry, extra_vars, tmp_path = upstream
    refused = run_playbook(
        "bundle.yml",
        REPO / "inventory" / "sample",
        "-e",
        write_vars(tmp_path, {**extra_vars, "gauntlet_bundle_platforms": ["linux/arm64"]}),
    )
    assert refused.returncode != 0
    assert (
        "Nothing was downloaded: gauntlet_bundle_platforms linux/arm64 lacks linux/amd64, which agent-1, agent-2, "
        "server-1 run(s)" in refused.stdout
    ), refused.stdout[-3000:]
    assert not (tmp_path / "bundle" / "files").exists()

    result = run_playbook(
        "bundle.yml",
        REPO / "inventory" / "sample",
        "-e",
        write_vars(tmp_path, {**extra_vars, "gauntlet_bundle_platforms": ["linux/amd64"]}),
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "k3s for amd64, image platforms linux/amd64;" in result.stdout
    lock = {
        entry["name"]: entry for entry in json.loads((tmp_path / "bundle" / "bundle.lock.json").read_text())["images"]
    }
    multi = lock[f"{registry.host}/ghcr.io/gauntlet/multi:3"]
    assert multi["upstream_digest"] == test_images.images["ghcr.io/gauntlet/multi:3"][0]
    assert multi["digest"] != multi["upstream_digest"]
    assert multi["platforms"] == ["linux/amd64"]
    base = lock[f"{registry.host}/quay.io/gauntlet/base:1"]
    assert base["digest"] == test_images.images["quay.io/gauntlet/base:1"][0] and "upstream_digest" not in base
