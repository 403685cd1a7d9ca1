# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""A registry client for the OCI distribution spec (Docker Registry HTTP API v2): the API.

- Manifests by tag or digest (the digest computed from the bytes), tags and the catalog
  (paginated), deletes.
- Blobs: ``HEAD`` before every upload, cross-repository mount
  (``POST ...?mount=<digest>&from=<repo>``), monolithic ``PUT`` uploads and
  chunked ``PATCH`` uploads for blobs above ``monolithic_max`` (or when a
  monolithic upload is refused with 413). Bodies are streamed in 1 MiB pieces
  and hashed on the fly; a digest mismatch is reported by name.
- An upload is one request for the retry budget: its session start and body are retried
  together, from a fresh reader, never one inside the other. A failed upload closes its
  session (``DELETE``).

How requests get there (TLS, auth, proxies, redirects, retries) is transport.py's. Stdlib only.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse

from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import (
    ACCEPT_MANIFESTS,
    ContentError,
    DigestMismatchError,
    VerifyingReader,
    sha256_digest,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import (
    RegistryAuthError,
    RegistryError,
    TransientError,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.transport import RegistryTransport, Response


class RegistryClient(RegistryTransport):
    """Talk to one registry (host[:port]): manifests, tags, the catalog, blobs and uploads."""

    # -- API ---------------------------------------------------------------

    @staticmethod
    def _scopes(repo: str, push: bool = False, mount_from: str | None = None) -> tuple:
        scopes = [f"repository:{repo}:{'pull,push' if push else 'pull'}"]
        if mount_from:
            scopes.append(f"repository:{mount_from}:pull")
        return tuple(scopes)

    def ping(self) -> None:
        """Check the API version endpoint (and the credentials)."""
        resp = self._request("GET", "/v2/")
        if resp.status == 401:
            raise RegistryAuthError(
                f"authentication to registry {self.registry} failed: check the username and password", 401
            )
        if resp.status != 200:
            raise self._fail(resp, "GET /v2/")

    def manifest_digest(self, repo: str, reference: str) -> tuple[str, str] | None:
        """(digest, media type) of a manifest, or None when absent."""
        resp = self._request(
            "HEAD", f"/v2/{repo}/manifests/{reference}", scopes=self._scopes(repo), headers={"Accept": ACCEPT_MANIFESTS}
        )
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._fail(resp, f"HEAD manifest {repo}:{reference}")
        digest = resp.header("Docker-Content-Digest")
        if not digest:
            _data, media_type, digest = self.get_manifest(repo, reference)
            return digest, media_type
        return digest, resp.header("Content-Type", "")

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest); the digest is computed from the bytes."""
        resp = self._request(
            "GET", f"/v2/{repo}/manifests/{reference}", scopes=self._scopes(repo), headers={"Accept": ACCEPT_MANIFESTS}
        )
        if resp.status == 404:
            raise RegistryError(
                f"image {self.registry}/{repo}:{reference} not found (HTTP 404); check the image name and tag",
                404,
                "MANIFEST_UNKNOWN",
            )
        if resp.status != 200:
            raise self._fail(resp, f"GET manifest {repo}:{reference}")
        digest = sha256_digest(resp.body)
        if reference.startswith("sha256:") and digest != reference:
            raise DigestMismatchError(
                f"digest mismatch for manifest {self.registry}/{repo}@{reference}: expected {reference}, got {digest}"
            )
        return resp.body, resp.header("Content-Type", "").split(";")[0].strip(), digest

    def put_manifest(self, repo: str, reference: str, data: bytes, media_type: str) -> str:
        expected = sha256_digest(data)
        resp = self._request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            scopes=self._scopes(repo, push=True),
            headers={"Content-Type": media_type},
            body=data,
        )
        if resp.status not in (200, 201, 202):
            raise self._fail(resp, f"PUT manifest {repo}:{reference}")
        got = resp.header("Docker-Content-Digest")
        if got and got != expected:
            raise RegistryError(
                f"registry {self.registry} stored manifest {repo}:{reference} as {got}, expected {expected}; the registry rewrote it"
            )
        return expected

    def _paged(self, path: str, key: str, scopes: tuple, what: str) -> list[str]:
        """Every item of a paginated list (``_catalog``, ``tags/list``), following ``Link: <...>; rel="next"``."""
        items: list[str] = []
        url: str | None = f"{path}?n=1000"
        while url:
            resp = self._request("GET", url, scopes=scopes)
            if resp.status == 404 and key == "tags":
                return items  # a repository whose last tag was deleted
            if resp.status != 200:
                raise self._fail(resp, what)
            try:
                items += json.loads(resp.body).get(key) or []
            except (ValueError, AttributeError) as exc:
                raise RegistryError(f"{what} on registry {self.registry}: the answer is not a JSON list") from exc
            match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", resp.header("Link", "") or "")
            url = match.group(1) if match else None
        return items

    def repositories(self) -> list[str]:
        """Every repository of the registry (``GET /v2/_catalog``, paginated)."""
        return self._paged("/v2/_catalog", "repositories", ("registry:catalog:*",), "GET /v2/_catalog")

    def tags(self, repo: str) -> list[str]:
        """The tags of a repository (``GET /v2/<name>/tags/list``, paginated); none when it has none."""
        return self._paged(f"/v2/{repo}/tags/list", "tags", self._scopes(repo), f"GET tags of {repo}")

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """``DELETE /v2/<name>/manifests/<digest>``: True when deleted, False when it was not there.
        Every tag that names the digest in that repository goes with it."""
        resp = self._request("DELETE", f"/v2/{repo}/manifests/{digest}", scopes=(f"repository:{repo}:delete",))
        if resp.status in (200, 202):
            return True
        if resp.status == 404:
            return False
        if resp.status == 405:
            raise RegistryError(
                f"registry {self.registry} refuses deletes (HTTP 405: storage.delete.enabled is off); "
                "set registry_delete_enabled: true and run playbooks/registry.yml first",
                405,
                "UNSUPPORTED",
            )
        raise self._fail(resp, f"DELETE manifest {repo}@{digest}")

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", scopes=self._scopes(repo))
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        raise self._fail(resp, f"HEAD blob {repo}@{digest}")

    def open_blob(self, repo: str, digest: str, retry: bool = True):
        """A streaming response body for a blob (redirects followed); ``retry=False`` when the
        caller retries the whole download (one budget per request)."""
        resp = self._request("GET", f"/v2/{repo}/blobs/{digest}", scopes=self._scopes(repo), stream=True, retry=retry)
        if resp.raw is None:
            if resp.status == 404:
                raise RegistryError(
                    f"blob {digest} of {self.registry}/{repo} not found (HTTP 404)", 404, "BLOB_UNKNOWN"
                )
            raise self._fail(resp, f"GET blob {repo}@{digest}")
        return resp.raw

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> tuple[bool, str | None]:
        """Cross-repository mount: (True, None) when mounted, else (False, upload location)."""
        query = urllib.parse.urlencode({"mount": digest, "from": from_repo})
        resp = self._request(
            "POST", f"/v2/{repo}/blobs/uploads/?{query}", scopes=self._scopes(repo, push=True, mount_from=from_repo)
        )
        if resp.status == 201:
            return True, None
        if resp.status == 202 and resp.header("Location"):
            return False, resp.header("Location")
        raise self._fail(resp, f"mount blob {digest} from {from_repo} into {repo}")

    def _start_upload(self, repo: str) -> str:
        # Not retried here: upload_blob retries the whole upload (one budget per request).
        resp = self._request("POST", f"/v2/{repo}/blobs/uploads/", scopes=self._scopes(repo, push=True), retry=False)
        if resp.status != 202 or not resp.header("Location"):
            raise self._fail(resp, f"start upload to {repo}")
        return resp.header("Location")

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        sep = "&" if "?" in location else "?"
        return f"{location}{sep}digest={urllib.parse.quote(digest)}"

    def upload_blob(self, repo: str, digest: str, size: int, opener, where: str, location: str | None = None) -> int:
        """Upload a blob read from ``opener()``; retried from scratch on transient errors. Returns bytes sent.

        The upload is one request for the retry budget: ``retries`` + 1 attempts in all, each
        starting a session and sending the body; none of its requests retries on its own.
        """
        attempt = 0
        while True:
            try:
                loc = location or self._start_upload(repo)
                location = None
                if size > self.monolithic_max:
                    return self._upload_chunked(repo, digest, size, opener, where, loc)
                try:
                    return self._upload_monolithic(repo, digest, size, opener, where, loc)
                except RegistryError as exc:
                    if exc.status != 413:
                        raise
                    return self._upload_chunked(repo, digest, size, opener, where, self._start_upload(repo))
            except TransientError:
                if attempt >= self.retries:
                    raise
                attempt += 1
                self._sleep(attempt)

    def _send(self, method: str, location: str, repo: str, headers: dict, reader, where: str) -> Response:
        try:
            return self._request(
                method, location, scopes=self._scopes(repo, push=True), headers=headers, body=reader, retry=False
            )
        except ContentError:
            scheme, host, _unused = self._url(location)
            self._drop_connection(host, scheme)
            raise

    def _cancel_upload(self, repo: str, location: str) -> None:
        """Close an upload session, best effort: ``DELETE`` on its URL ("Cancel outstanding upload
        processes, releasing associated resources": docker/distribution docs/spec/api.md, endpoint
        ``DELETE /v2/<name>/blobs/uploads/<uuid>``). Not retried; a failure here is not reported."""
        with contextlib.suppress(RegistryError):
            self._request("DELETE", location, scopes=self._scopes(repo, push=True), retry=False)

    def _upload_monolithic(self, repo, digest, size, opener, where, location) -> int:
        raw = opener()
        reader = VerifyingReader(raw, digest, size, where)
        try:
            try:
                resp = self._send(
                    "PUT",
                    self._with_digest(location, digest),
                    repo,
                    {"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                    reader,
                    where,
                )
                reader.read(0)  # verify (also covers size 0)
            finally:
                reader.close()
        except (RegistryError, ContentError):
            self._cancel_upload(repo, location)
            raise
        if resp.status != 201:
            self._cancel_upload(repo, location)
            raise self._fail(resp, f"upload of blob {digest} to {repo}")
        return size

    def _upload_chunked(self, repo, digest, size, opener, where, location) -> int:
        raw = opener()
        reader = VerifyingReader(raw, digest, size, where)
        sent = 0
        try:
            while sent < size:
                n = min(self.chunk_size, size - sent)
                headers = {
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(n),
                    "Content-Range": f"{sent}-{sent + n - 1}",
                }
                resp = self._send("PATCH", location, repo, headers, _Limited(reader, n), where)
                if resp.status != 202:
                    raise self._fail(resp, f"chunked upload of blob {digest} to {repo}")
                location = resp.header("Location") or location
                sent += n
            reader.read(0)  # verify (also covers size 0)
            # Not retried here: upload_blob retries the whole upload.
            resp = self._request(
                "PUT", self._with_digest(location, digest), scopes=self._scopes(repo, push=True), retry=False
            )
            if resp.status != 201:
                raise self._fail(resp, f"finishing chunked upload of blob {digest} to {repo}")
        except (RegistryError, ContentError):
            # Never commit bad content, never leave a session open: cancel it (best effort) and report.
            self._cancel_upload(repo, location)
            raise
        finally:
            reader.close()
        return size


class _Limited:
    """At most ``n`` bytes of a reader (one PATCH chunk)."""

    def __init__(self, reader, n: int):
        self._reader = reader
        self._left = n

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        if size is None or size < 0 or size > self._left:
            size = self._left
        data = self._reader.read(size)
        self._left -= len(data)
        return data
