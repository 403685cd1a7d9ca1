"""RegistryClient behaviour that a real registry rarely shows: retries, redirects, 413, bad digests.

A scripted in-process HTTP server stands in for the registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import threading

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import ContentError, DigestMismatchError
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryError, TransientError

BLOB = b"x" * 5000
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


class Fake:
    """Routes (method, path prefix) to a queue of responses; records requests."""

    def __init__(self):
        self.routes: dict[tuple[str, str], list] = {}
        self.requests: list[tuple[str, str, bytes]] = []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, self.path, body))
                for (method, prefix), queue in fake.routes.items():
                    if method == self.command and self.path.startswith(prefix) and queue:
                        status, headers, payload = queue.pop(0) if len(queue) > 1 else queue[0]
                        break
                else:
                    status, headers, payload = 404, {}, b'{"errors":[{"code":"NOT_FOUND","message":"no route"}]}'
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value.replace("PORT", str(fake.port)))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    # The client under test may give up before the answer: what some tests do.
                    with contextlib.suppress(BrokenPipeError):
                        self.wfile.write(payload)

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def route(self, method, prefix, *responses):
        self.routes[(method, prefix)] = list(responses)


@pytest.fixture
def fake():
    server = Fake()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def client(fake, **kw):
    kw.setdefault("retries", 3)
    kw.setdefault("backoff", 0.01)
    return RegistryClient(f"127.0.0.1:{fake.port}", plain_http=True, **kw)


def test_retries_transient_errors_then_succeeds(fake):
    fake.route("HEAD", "/v2/a/blobs/", (503, {}, b""), (502, {}, b""), (200, {}, b""))
    c = client(fake)
    assert c.blob_exists("a", DIGEST) is True
    assert c.stats["retries"] == 2


def test_gives_up_after_retries(fake):
    fake.route("HEAD", "/v2/a/blobs/", (503, {}, b""))
    with pytest.raises(TransientError, match="HTTP 503"):
        client(fake, retries=2).blob_exists("a", DIGEST)
    assert len(fake.requests) == 3


def test_monolithic_upload_and_413_falls_back_to_chunks(fake):
    loc = {"Location": "/v2/a/blobs/uploads/u1?_state=s"}
    fake.route("POST", "/v2/a/blobs/uploads/", (202, loc, b""))
    fake.route("PUT", "/v2/a/blobs/uploads/u1", (413, {}, b"too big"), (201, {}, b""))
    fake.route("PATCH", "/v2/a/blobs/uploads/u1", (202, loc, b""))
    c = client(fake, chunk_size=2000)
    assert c.upload_blob("a", DIGEST, len(BLOB), lambda: io.BytesIO(BLOB), where="test") == len(BLOB)
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert [len(r[2]) for r in patches] == [2000, 2000, 1000]
    assert b"".join(r[2] for r in patches) == BLOB
    final = [r for r in fake.requests if r[0] == "PUT"][-1]
    assert f"digest={DIGEST.replace(':', '%3A')}" in final[1]
    assert final[2] == b""


def test_corrupt_source_is_reported_and_chunked_upload_cancelled(fake):
    loc = {"Location": "/v2/a/blobs/uploads/u1"}
    fake.route("POST", "/v2/a/blobs/uploads/", (202, loc, b""))
    fake.route("PATCH", "/v2/a/blobs/uploads/u1", (202, loc, b""))
    fake.route("DELETE", "/v2/a/blobs/uploads/u1", (204, {}, b""))
    c = client(fake, monolithic_max=10, chunk_size=4096)
    bad = b"y" + BLOB[1:]
    with pytest.raises(DigestMismatchError, match=f"digest mismatch for blob {DIGEST} of quay.io/x/y:1"):
        c.upload_blob("a", DIGEST, len(BLOB), lambda: io.BytesIO(bad), where="quay.io/x/y:1")
    assert any(r[0] == "DELETE" for r in fake.requests)
    assert not any(r[0] == "PUT" for r in fake.requests)


def test_short_source_does_not_hang(fake):
    fake.route("POST", "/v2/a/blobs/uploads/", (202, {"Location": "/v2/a/blobs/uploads/u1"}, b""))
    with pytest.raises(ContentError, match="ended after 100 of 5000 bytes"):
        client(fake, timeout=5).upload_blob("a", DIGEST, len(BLOB), lambda: io.BytesIO(BLOB[:100]), where="img")


def test_blob_redirect_is_followed(fake):
    fake.route("GET", "/v2/a/blobs/", (307, {"Location": "http://127.0.0.1:PORT/storage/blob"}, b""))
    fake.route("GET", "/storage/blob", (200, {}, BLOB))
    raw = client(fake).open_blob("a", DIGEST)
    assert raw.read() == BLOB


def test_manifest_digest_checked_and_errors_explained(fake):
    body = b'{"schemaVersion":2}'
    fake.route("GET", "/v2/a/manifests/", (200, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body))
    c = client(fake)
    data, media_type, digest = c.get_manifest("a", "1")
    assert (data, media_type, digest) == (
        body,
        "application/vnd.oci.image.manifest.v1+json",
        "sha256:" + hashlib.sha256(body).hexdigest(),
    )
    with pytest.raises(DigestMismatchError):
        c.get_manifest("a", "sha256:" + "0" * 64)
    fake.route(
        "PUT",
        "/v2/a/manifests/",
        (400, {}, b'{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown to registry"}]}'),
    )
    with pytest.raises(RegistryError, match=r"MANIFEST_BLOB_UNKNOWN.*missing from the registry"):
        c.put_manifest("a", "1", body, "application/vnd.oci.image.manifest.v1+json")


def test_registry_down_is_transient():
    c = RegistryClient("127.0.0.1:1", plain_http=True, retries=1, backoff=0.01)
    with pytest.raises(TransientError, match=r"cannot reach registry 127\.0\.0\.1:1"):
        c.ping()


def test_refused_single_request_upload_closes_its_session(fake):
    """A monolithic PUT the registry refuses cancels the session: DELETE on the session URL
    (docker/distribution docs/spec/api.md, "DELETE /v2/<name>/blobs/uploads/<uuid>": cancel the upload)."""
    loc = {"Location": "/v2/a/blobs/uploads/u1?_state=s"}
    fake.route("POST", "/v2/a/blobs/uploads/", (202, loc, b""))
    fake.route("PUT", "/v2/a/blobs/uploads/u1", (400, {}, b'{"errors":[{"code":"SIZE_INVALID","message":"bad size"}]}'))
    fake.route("DELETE", "/v2/a/blobs/uploads/u1", (204, {}, b""))
    with pytest.raises(RegistryError, match="SIZE_INVALID"):
        client(fake).upload_blob("a", DIGEST, len(BLOB), lambda: io.BytesIO(BLOB), where="test")
    deletes = [r for r in fake.requests if r[0] == "DELETE"]
    assert [r[1] for r in deletes] == ["/v2/a/blobs/uploads/u1?_state=s"]


def test_upload_start_is_not_retried_inside_the_upload_retry(fake):
    """The upload's retries are the only budget: a refused start costs retries + 1 POSTs, not (retries + 1)^2."""
    fake.route("POST", "/v2/a/blobs/uploads/", (503, {}, b""))
    with pytest.raises(TransientError, match="HTTP 503"):
        client(fake, retries=3).upload_blob("a", DIGEST, len(BLOB), lambda: io.BytesIO(BLOB), where="test")
    assert len([r for r in fake.requests if r[0] == "POST"]) == 4
