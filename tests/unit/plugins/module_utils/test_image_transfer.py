"""image_transfer's pool and image_pull's retries, without a registry (the pull test uses the scripted registry double
of test_registry_client)."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_pull import pull_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import run_pool
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import TransientError

from .test_registry_client import Fake


@pytest.fixture
def fake():
    server = Fake()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_no_queued_task_starts_after_the_first_failure():
    started = []
    lock = threading.Lock()

    def note(what):
        with lock:
            started.append(what)

    def in_flight():
        note("in flight")
        time.sleep(0.3)  # still running when the other worker fails

    def fail():
        note("fail")
        time.sleep(0.05)  # fail once every task is queued
        raise TransientError("cannot reach registry 127.0.0.1:1: refused")

    queued = [lambda i=i: note(i) for i in range(8)]
    # A long switch interval lets the worker that just failed keep the interpreter, as a busy
    # machine does now and then: it must not take the next queued task before the pool stops.
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    try:
        with pytest.raises(TransientError, match="refused"):
            run_pool([in_flight, fail, *queued], 2)
    finally:
        sys.setswitchinterval(old)
    assert sorted(started, key=str) == ["fail", "in flight"], started


def test_pool_returns_results_in_order():
    assert run_pool([lambda i=i: i * i for i in range(6)], 3) == [0, 1, 4, 9, 16, 25]


def test_pull_blob_retries_are_one_budget(fake, tmp_path):
    config = b'{"architecture": "amd64", "os": "linux"}'
    layer = b"layer bytes"
    digest = {d: "sha256:" + hashlib.sha256(d).hexdigest() for d in (config, layer)}
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest[config],
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest[layer], "size": len(layer)}
            ],
        }
    ).encode()
    fake.route(
        "GET", "/v2/a/manifests/", (200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, manifest)
    )
    fake.route("GET", "/v2/a/blobs/", (503, {}, b""))
    client = RegistryClient(f"127.0.0.1:{fake.port}", plain_http=True, retries=2, backoff=0.01)
    layout = OciLayout(str(tmp_path / "layout"), create=True)
    with pytest.raises(TransientError, match="HTTP 503"):
        pull_image(f"127.0.0.1:{fake.port}/a:1", layout, client, concurrency=1)
    blob_gets = [r for r in fake.requests if r[0] == "GET" and "/blobs/" in r[1]]
    assert len(blob_gets) == 3, [r[1] for r in blob_gets]
