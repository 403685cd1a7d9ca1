"""playbooks/bundle.yml end to end, with loopback stand-ins for upstream: a local HTTP
server for the files and a real docker-registry for the images. No internet."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.image_transfer import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci_layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry_client import RegistryClient

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
