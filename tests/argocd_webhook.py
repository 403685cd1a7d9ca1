"""Argo CD's side of a Gitea push webhook, as Argo CD v3.5.1 decides it: a test oracle, not Argo CD.

Re-expressed from the sources (read, not copied), so a test can hand it what Gitea sends and
what the roles configure:
- argo-cd v3.5.1 server/server.go: the handler is mounted at ``/api/webhook``;
- util/webhook/scm.go gogsParser: claims a request when ``X-Gogs-Event`` is set (checked before
  GitHub's parser, since Gitea sends both header sets) and parses only ``push`` events;
- github.com/go-playground/webhooks/v6 v6.4.0 gogs/gogs.go Parse (the version argo-cd's go.mod
  pins): POST only; with a secret set (argocd-secret ``webhook.gogs.secret``, util/settings/
  settings.go settingsWebhookGogsSecretKey) ``X-Gogs-Signature`` must equal the hex HMAC-SHA256
  of the body with that secret, else ``HMAC verification failed`` (the handler answers 401);
- util/webhook/webhook.go affectedRevisionInfo (gogsclient.PushPayload): revision is the ref
  without ``refs/heads/``, the web URL is ``repository.html_url``, touchedHead is
  ``default_branch == revision``; HandleEvent refreshes an Application whose source
  ``sourceRevisionHasChanged`` (targetRevision HEAD or empty: touchedHead) and ``sourceUsesURL``:
  GetWebURLRegex(html_url) matches its repoURL (scheme, user and port optional, host and path
  exact, ``.git`` optional). Without the ``argocd.argoproj.io/manifest-generate-paths``
  annotation (the argocd role sets none) util/app/path AppFilesHaveChanged refreshes whatever
  files changed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.parse

WEBHOOK_PATH = "/api/webhook"
SECRET_KEY = "webhook.gogs.secret"


class Refused(Exception):
    """What Argo CD's handler answers instead of 200: (status, reason)."""

    def __init__(self, status: int, reason: str):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def web_url_regex(web_url: str) -> re.Pattern:
    parts = urllib.parse.urlsplit(web_url)
    host = re.escape(parts.hostname or "")
    path = re.escape(parts.path.lstrip("/"))
    user = r"[a-zA-Z0-9_\-.]+"  # usernameRegex of webhook.go
    return re.compile(rf"(?i)^((https?|ssh)://)?({user}@)?((alt)?ssh\.)?{host}(:\d+)?[:/]{path}(\.git)?$")


def parse(method: str, path: str, headers: dict, body: bytes, secret: str) -> dict:
    """The push payload Argo CD accepts, or Refused."""
    if path != WEBHOOK_PATH:
        raise Refused(404, "not the webhook endpoint")
    if not headers.get("X-Gogs-Event"):
        raise Refused(400, "Unknown webhook event (no X-Gogs-Event: another parser would be asked)")
    if method != "POST":
        raise Refused(405, "invalid HTTP Method")
    if headers["X-Gogs-Event"] != "push":
        raise Refused(400, "event not defined to be parsed")
    if not body:
        raise Refused(400, "error parsing payload")
    if secret:
        signature = headers.get("X-Gogs-Signature") or ""
        if not signature:
            raise Refused(400, "missing X-Gogs-Signature Header")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise Refused(401, "HMAC verification failed")
    return json.loads(body)


def refreshed(payload: dict, applications: list[dict]) -> list[str]:
    """Names of the Applications Argo CD refreshes for this push payload."""
    ref = payload.get("ref", "")
    revision = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
    repo = payload.get("repository") or {}
    web_url = repo.get("html_url")
    if not web_url:
        return []
    touched_head = repo.get("default_branch") == revision
    pattern = web_url_regex(web_url)
    names = []
    for app in applications:
        source = app["spec"]["source"]
        target = source.get("targetRevision") or "HEAD"
        changed = touched_head if target == "HEAD" else target.removeprefix("refs/heads/") == revision
        if changed and pattern.match(source["repoURL"]):
            names.append(app["metadata"]["name"])
    return names
