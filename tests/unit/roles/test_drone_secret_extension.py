"""The Drone secret extension (roles/drone/files/secret_extension.py): decision, signature, loopback.

`drone_go_request` below is a port of the client the runner uses, written from the upstream
sources, not from memory:
- drone/drone-go v1.7.1 plugin/internal/client/client.go (Client.Do: POST, headers Accept,
  Accept-Encoding, Content-Type, Digest "SHA-256=" + base64(sha256(body)), Date in
  http.TimeFormat UTC; signer over "accept accept-encoding content-type date digest" with
  keyId "hmac-key"); plugin/secret/client.go (Accept application/vnd.drone.secret.v1+json,
  Encoding identity from client.New); plugin/secret/secret.go (Request {path, name, repo, build}).
- 99designs/httpsignatures-go signer.go (SignRequest: header `Signature`) and signature.go
  (String(): keyId, algorithm, signature, then headers; signingString: "<header>: <value>"
  lines joined by "\\n"; HMAC with the key, base64 std).
- drone/runner-go v1.12.0 secret/external.go: 204 No Content (empty data) means no secret.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import importlib.util
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("secret_extension", REPO / "roles/drone/files/secret_extension.py")
extension = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(extension)

TOKEN = "shared-token-of-the-runner"
POLICY = {"branch": "main", "repos": {"gauntlet/task-api": ["registry_password"]}}
VALUES = {"registry_password": "the-ci-registry-password"}
SIGNED = ["accept", "accept-encoding", "content-type", "date", "digest"]  # client.go `headers`


def secret_request(name="registry_password", event="push", ref="refs/heads/main", slug="gauntlet/task-api", path=""):
    """A secret.Request as runner-go builds it (drone.Repo and drone.Build JSON field names)."""
    target = ref.removeprefix("refs/heads/")
    return {
        "path": path,
        "name": name,
        "repo": {"id": 1, "namespace": slug.split("/")[0], "name": slug.split("/")[1], "slug": slug,
                 "default_branch": "main", "config_path": "apps/task-api/.drone.yml"},
        "build": {"id": 7, "number": 7, "event": event, "ref": ref, "target": target, "source": target,
                  "after": "0" * 40, "source_repo": "", "debug": False},
    }  # fmt: skip


def drone_go_request(url, payload, token=TOKEN, date=None, body=None, signature=None, drop=()):
    """urllib Request signed as drone-go's client.Do signs (see the module docstring)."""
    data = json.dumps(payload).encode() if body is None else body
    headers = {
        "Accept": "application/vnd.drone.secret.v1+json",
        "Accept-Encoding": "identity",
        "Content-Type": "application/json",
        "Digest": "SHA-256=" + base64.b64encode(hashlib.sha256(json.dumps(payload).encode()).digest()).decode(),
        "Date": date or email.utils.formatdate(usegmt=True),
    }
    signing = "\n".join(f"{h}: {headers[next(k for k in headers if k.lower() == h)]}" for h in SIGNED)
    mac = base64.b64encode(hmac.new(token.encode(), signing.encode(), hashlib.sha256).digest()).decode()
    headers["Signature"] = signature or (
        f'keyId="hmac-key",algorithm="hmac-sha256",signature="{mac}",headers="{" ".join(SIGNED)}"'
    )
    for name in drop:
        headers.pop(name)
    return urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 (loopback)


@pytest.fixture(scope="module")
def url():
    handler = extension.make_handler(TOKEN, POLICY, VALUES.get)
    server = extension.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def send(request):
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


# --- Decision ---------------------------------------------------------------------------


def test_push_to_main_of_the_repository_gets_the_secret():
    assert extension.decide(secret_request(), POLICY) == "registry_password"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"ref": "refs/heads/feature"}, "push of another branch"),
        ({"ref": "refs/heads/main-evil"}, "branch whose name starts with main"),
        ({"ref": "refs/tags/v1"}, "tag"),
        ({"event": "tag", "ref": "refs/tags/main"}, "tag event"),
        ({"event": "pull_request", "ref": "refs/pull/3/head"}, "pull request"),
        ({"event": "pull_request", "ref": "refs/heads/main"}, "pull request whose ref says main"),
        ({"event": "custom"}, "build started through the API with branch=main"),
        ({"event": "promote"}, "promotion"),
        ({"event": "cron"}, "cron"),
        ({"slug": "gauntlet/gitops"}, "another repository"),
        ({"name": "local_ca"}, "a secret not marked main-only"),
        ({"path": "other"}, "a path"),
    ],
)
def test_every_other_build_gets_nothing(change, why):
    assert extension.decide(secret_request(**change), POLICY) is None, why


def test_malformed_requests_get_nothing():
    assert extension.decide({}, POLICY) is None
    assert extension.decide({"name": "registry_password", "repo": "x", "build": []}, POLICY) is None


# --- Signature --------------------------------------------------------------------------


def headers_of(request):
    return dict(request.header_items())


class Headers(dict):
    """Case-insensitive get, like http.server's message headers."""

    def get(self, key, default=None):
        return next((v for k, v in self.items() if k.lower() == key.lower()), default)


def check(request, token=TOKEN, now=None):
    extension.verify("POST", "/", Headers(headers_of(request)), request.data, token, now=now)


def test_a_drone_go_signed_request_verifies():
    check(drone_go_request("http://127.0.0.1/", secret_request()))


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"drop": ["Signature"]}, 401),
        ({"token": "another-token"}, 403),
        ({"signature": 'keyId="hmac-key",algorithm="hmac-sha256",signature="AAAA",headers="date digest"'}, 403),
        ({"signature": 'keyId="hmac-key",algorithm="hmac-sha1",signature="AAAA",headers="date digest"'}, 403),
        ({"body": json.dumps(secret_request(ref="refs/heads/feature")).encode()}, 403),
        # Offsets from the moment the test runs (a date computed at collection is stale or near
        # by the time a long run reaches this test).
        ({"date": -3600}, 403),
        ({"date": +3600}, 403),
        ({"date": "yesterday"}, 403),
    ],
    ids=["missing", "wrong-token", "wrong-mac", "sha1", "body-swapped", "stale-date", "future-date", "bad-date"],
)
def test_bad_signatures_are_refused(kwargs, status):
    if isinstance(kwargs.get("date"), int):
        kwargs = {**kwargs, "date": email.utils.formatdate(time.time() + kwargs["date"], usegmt=True)}
    with pytest.raises(extension.Refused) as refused:
        check(drone_go_request("http://127.0.0.1/", secret_request(), **kwargs))
    assert refused.value.status == status


def test_a_signature_without_date_and_digest_is_refused():
    # A valid HMAC over fewer headers: the Digest and Date would not be bound to it.
    data = json.dumps(secret_request()).encode()
    signing = "content-type: application/json"
    mac = base64.b64encode(hmac.new(TOKEN.encode(), signing.encode(), hashlib.sha256).digest()).decode()
    headers = Headers({"Content-Type": "application/json",
                       "Signature": f'keyId="k",algorithm="hmac-sha256",signature="{mac}",headers="content-type"'})  # fmt: skip
    with pytest.raises(extension.Refused) as refused:
        extension.verify("POST", "/", headers, data, TOKEN)
    assert refused.value.status == 403


# --- The service on loopback ------------------------------------------------------------


def test_end_to_end_push_to_main_gets_the_value(url):
    status, body = send(drone_go_request(url, secret_request()))
    assert status == 200
    # drone-go unmarshals into drone.Secret: `data` is what the runner hands to the step.
    assert json.loads(body) == {"name": "registry_password", "data": VALUES["registry_password"]}


@pytest.mark.parametrize(
    "change",
    [{"ref": "refs/heads/feature"}, {"event": "pull_request", "ref": "refs/pull/1/head"}, {"event": "tag"},
     {"event": "custom"}, {"slug": "someone/else"}, {"name": "local_ca"}],
)  # fmt: skip
def test_end_to_end_other_builds_get_no_content(url, change):
    # 204: runner-go secret/external.go treats the empty answer as "no secret", no error.
    assert send(drone_go_request(url, secret_request(**change))) == (204, b"")


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [({"drop": ["Signature"]}, 401), ({"token": "guess"}, 403),
     ({"date": email.utils.formatdate(time.time() - 600, usegmt=True)}, 403),
     ({"body": json.dumps(secret_request()).encode() + b" "}, 403)],
)  # fmt: skip
def test_end_to_end_unsigned_or_replayed_requests_get_nothing(url, kwargs, status):
    status_got, body = send(drone_go_request(url, secret_request(), **kwargs))
    assert (status_got, body) == (status, b"")
    assert VALUES["registry_password"].encode() not in body


def test_end_to_end_health_needs_no_signature(url):
    assert send(urllib.request.Request(url + "healthz"))[0] == 200  # noqa: S310 (loopback)
