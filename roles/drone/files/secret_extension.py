# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Drone secret extension: main-only secrets for push builds of main, nothing for other builds.

Drone v2 repository secrets have no branch filter (only `pull_request`), so every push build
of any branch gets every repository secret. The secrets this service holds are therefore not
Drone repository secrets: the Kubernetes runner asks this service for them, and it answers
only for builds whose event is `push` and whose ref is `refs/heads/<MAIN_BRANCH>` of a
repository the policy names; every other build gets 204 No Content (no secret).

Protocol (checked in upstream sources, not remembered):
- drone-runner-kube v1.0.0-rc.5 command/daemon/config.go (DRONE_SECRET_PLUGIN_ENDPOINT,
  DRONE_SECRET_PLUGIN_TOKEN) and command/daemon/daemon.go: the runner, not the server, holds
  the external provider (secret.External). drone/runner-go v1.12.0 secret/external.go asks it
  only for secrets the pipeline file declares as `kind: secret` resources with `get:`, and
  sends the `get` path and name with the build and the repository; 204 means "no secret".
- drone/drone-go v1.7.1 plugin/secret/secret.go (request JSON {path, name, repo, build};
  response drone.Secret {name, data}) and plugin/internal/client/client.go: POST with
  Accept, Accept-Encoding (identity), Content-Type, Digest (SHA-256=<base64>) and Date
  (http.TimeFormat, UTC), signed with 99designs/httpsignatures-go (signer.go, signature.go):
  header `Signature: keyId="hmac-key",algorithm="hmac-sha256",signature="<base64>",
  headers="accept accept-encoding content-type date digest"`, the HMAC-SHA256 with the
  shared token of the lines "<header>: <value>" joined by newlines.
- harness/drone v2.25.0 service/hook/parser/parse.go: a Gitea branch push is built with event
  `push` and ref `refs/heads/<branch>` (the hook's ref); tags get event `tag`, builds started
  through the API `custom`, promotions `promote`: none of those is served.
Stricter than the upstream handler (plugin/secret/handler.go checks the HMAC only): the
Digest must match the body, the Date must be within MAX_SKEW seconds, and `date` and
`digest` must be among the signed headers. Missing signature: 401; wrong signature, digest
or stale date: 403.

Settings (environment): LISTEN_ADDRESS, LISTEN_PORT, TOKEN_FILE (the shared token),
SECRETS_DIR (one file per secret, named by the secret), POLICY (JSON: {"branch": "main",
"repos": {"owner/name": ["secret", ...]}}), MAX_SKEW (seconds, default 300).
Standard library only; runs from the Python image the bundle already carries.
"""

import base64
import email.utils
import hashlib
import hmac
import json
import os
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNATURE_PARAM = re.compile(r'(\w+)="([^"]*)"')  # httpsignatures-go signature.go signatureRegex
REQUIRED_SIGNED = ("date", "digest")
MAX_BODY = 1 << 20


class Refused(Exception):
    """A request that fails authentication: status and reason (the reason is logged, not sent)."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status


def parse_signature(headers):
    """The Signature (or Authorization: Signature ...) header as a dict; Refused(401) when absent."""
    value = headers.get("Signature")
    if value is None:
        auth = headers.get("Authorization") or ""
        if not auth.startswith("Signature "):
            raise Refused(401, "no Signature header")
        value = auth[len("Signature ") :]
    params = dict(SIGNATURE_PARAM.findall(value))
    for key in ("keyId", "algorithm", "signature", "headers"):
        if not params.get(key):
            raise Refused(401, f"signature without {key}")
    return params


def verify(method, target, headers, body, token, now=None, max_skew=300):
    """Check a drone-go signed request; raise Refused when it is not one."""
    params = parse_signature(headers)
    if params["algorithm"] != "hmac-sha256":
        raise Refused(403, f"algorithm {params['algorithm']!r} is not hmac-sha256")
    signed = params["headers"].lower().split(" ")
    missing = [h for h in REQUIRED_SIGNED if h not in signed]
    if missing:
        raise Refused(403, f"headers {missing} are not signed")
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
            continue
        value = headers.get(name)
        if not value:
            raise Refused(403, f"signed header {name!r} is missing")
        lines.append(f"{name}: {value}")
    expected = base64.b64encode(hmac.new(token.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected.encode(), params["signature"].encode()):
        raise Refused(403, "wrong signature")
    digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
    if not hmac.compare_digest(digest.encode(), (headers.get("Digest") or "").encode()):
        raise Refused(403, "Digest does not match the body")
    try:
        sent = email.utils.parsedate_to_datetime(headers.get("Date")).timestamp()
    except (TypeError, ValueError) as exc:
        raise Refused(403, "unreadable Date") from exc
    now = time.time() if now is None else now
    if abs(now - sent) > max_skew:
        raise Refused(403, f"Date is {int(now - sent)} s away from now (at most {max_skew})")


def decide(request, policy):
    """The secret name to serve for a secret request, or None: push builds of the main branch only."""
    name = request.get("name")
    repo = request.get("repo") if isinstance(request.get("repo"), dict) else {}
    build = request.get("build") if isinstance(request.get("build"), dict) else {}
    if not isinstance(name, str) or request.get("path") not in (None, ""):
        return None
    if name not in policy.get("repos", {}).get(repo.get("slug"), []):
        return None
    if build.get("event") != "push" or build.get("ref") != f"refs/heads/{policy['branch']}":
        return None
    return name


def log(message):
    print(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), message, file=sys.stderr, flush=True)


def make_handler(token, policy, read_secret, max_skew=300):
    class Handler(BaseHTTPRequestHandler):
        server_version = "drone-secret-extension"
        sys_version = ""

        def log_message(self, format, *args):
            pass

        def reply(self, status, payload=None):
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self.reply(200 if self.path == "/healthz" else 404)

        def do_POST(self):
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.reply(413)
                return
            body = self.rfile.read(length)
            try:
                verify("POST", self.path, self.headers, body, token, max_skew=max_skew)
            except Refused as exc:
                log(f"refused {self.client_address[0]}: {exc}")
                self.reply(exc.status)
                return
            try:
                request = json.loads(body)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError:
                self.reply(400)
                return
            name = decide(request, policy)
            build = request.get("build") if isinstance(request.get("build"), dict) else {}
            repo = request.get("repo") if isinstance(request.get("repo"), dict) else {}
            what = (
                f"secret {request.get('name')!r} for {repo.get('slug')!r} build {build.get('number')} "
                f"event {build.get('event')!r} ref {build.get('ref')!r}"
            )
            value = read_secret(name) if name else None
            if not value:
                log(f"no {what}")
                self.reply(204)
                return
            log(f"served {what}")
            self.reply(200, {"name": name, "data": value})

    return Handler


def file_reader(directory):
    def read_secret(name):
        try:
            with open(os.path.join(directory, os.path.basename(name)), encoding="utf-8") as handle:
                return handle.read()
        except OSError:
            return None

    return read_secret


def main():
    try:
        with open(os.environ["TOKEN_FILE"], encoding="utf-8") as handle:
            token = handle.read().strip()
        policy = json.loads(os.environ["POLICY"])
        assert isinstance(policy.get("branch"), str) and policy["branch"], "POLICY needs a branch"
        assert isinstance(policy.get("repos"), dict), "POLICY needs repos"
        secrets_dir = os.environ["SECRETS_DIR"]
        port = int(os.environ.get("LISTEN_PORT", "3000"))
        max_skew = int(os.environ.get("MAX_SKEW", "300"))
    except (KeyError, OSError, ValueError, AssertionError) as exc:
        log(f"bad settings: {exc!r} (TOKEN_FILE, POLICY, SECRETS_DIR, LISTEN_PORT, MAX_SKEW)")
        return 2
    if not token:
        log(f"{os.environ['TOKEN_FILE']} is empty")
        return 2
    server = ThreadingHTTPServer(
        (os.environ.get("LISTEN_ADDRESS", "0.0.0.0"), port),  # noqa: S104 (a pod: the Service and the NetworkPolicy bound it)
        make_handler(token, policy, file_reader(secrets_dir), max_skew),
    )
    log(f"listening on port {port}; main-only secrets for push builds of refs/heads/{policy['branch']}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
