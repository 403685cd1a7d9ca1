# -*- coding: utf-8 -*-
# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Gitea's PyPI package registry, filled from a folder of wheels and the lock that lists them.

The protocol (go-gitea/gitea, read through the code search: routers/api/packages/api.go
routes, routers/api/packages/pypi/pypi.go handlers, templates/api/packages/pypi/simple.tmpl):

- ``POST /api/packages/{owner}/pypi``: twine's multipart upload. Gitea reads the form
  fields ``content`` (the file, named by its filename), ``name``, ``version``,
  ``sha256_digest`` (refused with 400 "hash mismatch" when it is not the file's),
  ``requires_python``, ``summary`` and a few more metadata fields. 201 on success; a
  filename the package version already has is refused (409, 400 in releases before the
  change to StatusConflict). Needs write access to the owner's packages.
- ``GET /api/packages/{owner}/pypi/simple/{name}``: the PEP 503 page of one project, one
  link per file, ``{ROOT_URL}api/packages/{owner}/pypi/files/{name}/{version}/{filename}
  #sha256={hex}`` (absolute, from Gitea's ROOT_URL); 404 for an unknown project. There is
  no root page listing every project (pip never asks for one).
- ``GET /api/packages/{owner}/pypi/files/{name}/{version}/{filename}``: the file.
- Access (services/context/package.go determineAccessMode): with ``REQUIRE_SIGNIN_VIEW``
  anonymous requests get nothing; packages of a private user account are the account's
  own. Basic auth takes the password or an access token; a token needs the scope
  ``read:package`` to read and ``write:package`` to upload (reqPackageAccess).

A file is uploaded once: one the index has with the same sha256 is kept, one it has with
another sha256 is an error naming the file (Gitea never replaces a file; the fix is to
delete that package version in Gitea, or to bring the bundle that filled it).

Stdlib only.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import urllib.parse
import zipfile
from email.parser import HeaderParser
from html.parser import HTMLParser

from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import (
    ApiError,
    basic_auth,
    error_detail,
)

_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*\.whl$")


class PypiError(ApiError):
    """A wheel, a lock entry or the index is not what the bundle says; the message names the file."""


def normalize(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", str(name)).lower()


def index_path(owner: str) -> str:
    return f"/api/packages/{urllib.parse.quote(owner, safe='')}/pypi"


def simple_url(base_url: str, owner: str) -> str:
    """The index URL pip takes (PIP_INDEX_URL), without credentials."""
    return f"{base_url.rstrip('/')}{index_path(owner)}/simple/"


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_wheels(wheels) -> list[dict]:
    """The lock's wheel entries, each with name, version, filename (a .whl) and sha256 (64 hex)."""
    if not isinstance(wheels, list):
        raise PypiError("wheels must be a list of {name, version, filename, sha256} entries")
    checked, seen = [], set()
    for number, entry in enumerate(wheels, 1):
        if not isinstance(entry, dict):
            raise PypiError(f"wheels entry {number} is not a mapping: {entry!r}")
        missing = [key for key in ("name", "version", "filename", "sha256") if not entry.get(key)]
        if missing:
            raise PypiError(f"wheels entry {number} ({entry.get('filename', '?')}) lacks {', '.join(missing)}")
        filename, sha256 = str(entry["filename"]), str(entry["sha256"]).lower()
        if not _FILENAME.match(filename):
            raise PypiError(f"wheels entry {number}: {filename!r} is not a wheel file name (a plain *.whl name)")
        if not _HEX64.match(sha256):
            raise PypiError(f"wheels entry {number} ({filename}): sha256 must be 64 hex digits")
        if filename in seen:
            raise PypiError(f"wheels: {filename} is listed twice")
        seen.add(filename)
        checked.append(
            {"name": str(entry["name"]), "version": str(entry["version"]), "filename": filename, "sha256": sha256}
        )
    return checked


def wheel_metadata(path: str) -> dict:
    """Name, Version, Requires-Python and Summary from a wheel's *.dist-info/METADATA."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if re.match(r"^[^/]+\.dist-info/METADATA$", n)]
            if len(names) != 1:
                raise PypiError(f"{os.path.basename(path)} has no single *.dist-info/METADATA: not a wheel")
            text = archive.read(names[0]).decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile) as exc:
        raise PypiError(f"{os.path.basename(path)} cannot be read as a wheel ({exc})") from exc
    headers = HeaderParser().parsestr(text, headersonly=True)
    return {key: headers.get(key) or "" for key in ("Name", "Version", "Requires-Python", "Summary")}


class _Links(HTMLParser):
    """The <a href> of a PEP 503 page."""

    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def parse_simple_page(html: str) -> dict[str, str]:
    """filename -> sha256 of every link of a PEP 503 project page (#sha256=<hex> fragments)."""
    reader = _Links()
    reader.feed(html)
    files = {}
    for href in reader.hrefs:
        parts = urllib.parse.urlsplit(href)
        filename = urllib.parse.unquote(parts.path.rsplit("/", 1)[-1])
        algorithm, _sep, value = parts.fragment.partition("=")
        files[filename] = value.lower() if algorithm == "sha256" else ""
    return files


def encode_multipart(fields: list[tuple[str, str]], file_field: str, filename: str, content: bytes):
    """multipart/form-data body and its Content-Type, as twine sends an upload."""
    boundary = "gauntlet-" + secrets.token_hex(16)
    chunks = []
    for key, value in fields:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode("utf-8")
        )
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode("utf-8")
    )
    chunks.append(content)
    chunks.append(f"\r\n--{boundary}--\r\n".encode("utf-8"))
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


class PypiIndex:
    """Gitea's PyPI registry of ``owner`` at ``url``, as ``username`` (basic auth)."""

    def __init__(self, http, url: str, owner: str, username: str, password: str):
        self.http = http
        self.url = url.rstrip("/")
        self.owner = owner
        self.auth = basic_auth(username, password)
        self.username = username

    def project_files(self, name: str) -> dict[str, str]:
        """filename -> sha256 the index has for project ``name`` ({} when it has none)."""
        path = f"{index_path(self.owner)}/simple/{urllib.parse.quote(normalize(name), safe='')}/"
        response = self.http.request("GET", self.url + path, headers={**self.auth, "Accept": "text/html"})
        if response.status == 404:
            return {}
        if response.status == 200:
            return parse_simple_page(response.text())
        raise self._refused("GET", path, response)

    def upload(self, path: str, entry: dict, metadata: dict) -> None:
        with open(path, "rb") as handle:
            content = handle.read()
        fields = [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("filetype", "bdist_wheel"),
            ("pyversion", entry["filename"][:-4].split("-")[-3] if entry["filename"].count("-") >= 4 else "py3"),
            ("metadata_version", "2.1"),
            ("name", entry["name"]),
            ("version", entry["version"]),
            ("sha256_digest", entry["sha256"]),
            ("requires_python", metadata.get("Requires-Python") or ""),
            ("summary", metadata.get("Summary") or ""),
        ]
        body, content_type = encode_multipart(fields, "content", entry["filename"], content)
        where = index_path(self.owner)
        response = self.http.request(
            "POST", self.url + where, data=body, headers={**self.auth, "Content-Type": content_type}
        )
        if response.status == 201:
            return
        if response.status in (400, 409) and "exist" in error_detail(response).lower():
            raise PypiError(
                f"{entry['filename']}: Gitea already has this file (it appeared while uploading); run again"
            )
        raise self._refused("POST", where, response, entry["filename"])

    def _refused(self, method, path, response, filename: str = "") -> ApiError:
        about = f" ({filename})" if filename else ""
        if response.status in (401, 403):
            return ApiError(
                f"{method} {path}{about}: Gitea refused {self.username!r} ({response.status}); the account must own "
                f"the packages of {self.owner!r} (or be a site administrator) and its password must be right",
                response.status,
            )
        return ApiError(
            f"{method} {path}{about}: Gitea answered {response.status}: {error_detail(response)}", response.status
        )


def ensure_wheels(index: PypiIndex, directory: str, wheels, check_mode: bool = False) -> dict:
    """Every wheel of ``wheels`` (files in ``directory``) in the index, uploaded when missing."""
    entries = check_wheels(wheels)
    result = {"changed": False, "uploaded": [], "kept": []}
    problems = []
    local = []
    for entry in entries:
        path = os.path.join(directory, entry["filename"])
        if not os.path.isfile(path):
            problems.append(f"{entry['filename']}: listed in the lock but not in {directory}")
            continue
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            problems.append(
                f"{entry['filename']}: the file in {directory} has sha256 {actual}, the lock says {entry['sha256']} "
                "(a damaged or mixed bundle: copy it again)"
            )
            continue
        metadata = wheel_metadata(path)
        if normalize(metadata["Name"]) != normalize(entry["name"]) or metadata["Version"] != entry["version"]:
            problems.append(
                f"{entry['filename']}: its METADATA says {metadata['Name']} {metadata['Version']}, "
                f"the lock says {entry['name']} {entry['version']}"
            )
            continue
        local.append((path, entry, metadata))
    if problems:
        raise PypiError("the bundle's wheels do not match their lock: " + "; ".join(problems))
    present: dict[str, dict[str, str]] = {}
    missing = []
    for path, entry, metadata in local:
        project = normalize(entry["name"])
        if project not in present:
            present[project] = index.project_files(project)
        there = present[project].get(entry["filename"])
        if there == entry["sha256"]:
            result["kept"].append(entry["filename"])
        elif there is not None:
            problems.append(
                f"{entry['filename']}: the index has it with sha256 {there or '(none given)'}, the bundle's is "
                f"{entry['sha256']}; Gitea never replaces a file: delete version {entry['version']} of "
                f"{project} in Gitea (package settings) and run again"
            )
        else:
            result["uploaded"].append(entry["filename"])
            missing.append((path, entry, metadata))
    if problems:
        # Before any upload: a conflict leaves the index as it was.
        raise PypiError("; ".join(problems))
    if not check_mode:
        for path, entry, metadata in missing:
            index.upload(path, entry, metadata)
    result["changed"] = bool(result["uploaded"])
    return result
