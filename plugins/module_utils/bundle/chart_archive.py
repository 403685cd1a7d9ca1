# Copyright: (c) 2026, Cloud Native Gauntlet contributors
# SPDX-License-Identifier: Apache-2.0
"""Pack a Helm chart from the offline bundle into a byte-identical .tgz.

k3s's helm-controller installs a chart given as ``spec.chartContent`` (base64 of the
chart archive), so no helm binary and no chart repository are needed. The archive is
built on the controller from the chart's source files in the bundle, the way
``helm dependency update`` + ``helm package`` would lay it out::

    <chart name>/Chart.yaml                  version / appVersion set as the release sets them
    <chart name>/values.yaml ...             every other file of the chart, unchanged
    <chart name>/charts/<dependency>/...     local (file://) dependencies vendored as folders

The same inputs always give the same bytes (entries sorted, fixed mtime, owner and
mode, gzip header without name or time), so the HelmChart object a role renders or
applies does not change between runs and helm-controller does not upgrade for nothing.

Stdlib only (plus PyYAML to read a chart's name, which Ansible always has).
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile

from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import (
    LOCK_NAME,
    BundleFileError,
    bundle_file_path,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.lock import BundleLockError, load_lock

# 2000-01-01T00:00:00Z: any fixed time works; a zero mtime makes some tar tools warn.
ARCHIVE_MTIME = 946684800
# Helm requires a SemVer chart version; appVersion is free text, kept to a safe alphabet.
_SEMVER = re.compile(r"^v?[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
_APP_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]*$")
_TOP_KEY = {"version": re.compile(r"^version:.*$", re.M), "appVersion": re.compile(r"^appVersion:.*$", re.M)}


class ChartArchiveError(ValueError):
    """A chart that cannot be packed: missing files, bad names or versions."""


def _check_member(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ChartArchiveError(f"archive member {path!r} must be a relative path without '.', '..' or empty parts")


def build_archive(files: dict) -> bytes:
    """A gzip'd tar of ``files`` ({member path: bytes}), identical for identical input.

    Members are regular files, sorted by path, mode 0644, owner 0:0 without names,
    mtime ``ARCHIVE_MTIME``; the gzip header carries no file name and mtime 0.
    """
    if not files:
        raise ChartArchiveError("nothing to pack: the chart has no files")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            _check_member(path)
            data = files[path]
            if not isinstance(data, bytes):
                raise ChartArchiveError(f"archive member {path}: content must be bytes")
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = ARCHIVE_MTIME
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.type = tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def chart_name(chart_yaml: bytes) -> str:
    """The ``name`` of a Chart.yaml."""
    import yaml

    try:
        data = yaml.safe_load(chart_yaml)
    except yaml.YAMLError as exc:
        raise ChartArchiveError(f"Chart.yaml is not valid YAML: {exc}") from exc
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ChartArchiveError(f"Chart.yaml has no valid chart name (got {name!r})")
    return name


def set_chart_versions(chart_yaml: bytes, version: str = "", app_version: str = "") -> bytes:
    """Chart.yaml with its top-level ``version`` (and ``appVersion``) replaced.

    What the upstream release does before ``helm package``: the source tree holds
    placeholders (``0.0.0-undefined``, ``edge-XX.X.X``). Only the top-level lines
    change, so comments and the order of the file stay as published. An ``appVersion``
    the file lacks is appended (as ``helm package --app-version`` does).
    """
    text = chart_yaml.decode("utf-8")
    for key, value in (("version", version), ("appVersion", app_version)):
        if not value:
            continue
        if not (_SEMVER if key == "version" else _APP_VERSION).fullmatch(value):
            what = "a SemVer version (Helm requires one)" if key == "version" else "a plain version string"
            raise ChartArchiveError(f"chart {key} {value!r} is not {what}")
        line = f'{key}: "{value}"'
        text, count = _TOP_KEY[key].subn(line, text)
        if count > 1:
            raise ChartArchiveError(f"Chart.yaml has {count} top-level {key} lines")
        if count == 0:
            if key == "version":
                raise ChartArchiveError("Chart.yaml has no top-level version line")
            text = text.rstrip("\n") + "\n" + line + "\n"
    return text.encode("utf-8")


def bundle_folder_files(bundle_dir: str, folder: str, base_dir: str | None = None) -> dict:
    """{path relative to ``folder``: bytes} of every bundle file under ``folder``.

    The files are those the bundle lock lists under ``<folder>/``; each is read through
    ``bundle_file_path``, so a missing, changed or truncated file stops the build.
    """
    folder = folder.strip("/")
    if not folder or ".." in folder.split("/"):
        raise ChartArchiveError(f"chart folder {folder!r} must be a relative path inside the bundle")
    try:
        lock = load_lock(os.path.join(bundle_dir, LOCK_NAME), missing_ok=False)
    except BundleLockError as exc:
        raise ChartArchiveError(f"{exc}; rebuild the bundle with playbooks/bundle.yml on a connected machine") from None
    names = sorted(entry["name"] for entry in lock["files"] if entry["name"].startswith(folder + "/"))
    if f"{folder}/Chart.yaml" not in names:
        raise ChartArchiveError(
            f"the bundle lock lists no {folder}/Chart.yaml: add the chart's files to gauntlet_bundle_files "
            "and rebuild the bundle with playbooks/bundle.yml"
        )
    files = {}
    for name in names:
        try:
            path = bundle_file_path(bundle_dir, name, base_dir)
        except BundleFileError as exc:
            raise ChartArchiveError(str(exc)) from None
        with open(path, "rb") as handle:
            files[name[len(folder) + 1 :]] = handle.read()
    return files


def chart_archive(
    bundle_dir: str, folder: str, dependencies=(), version: str = "", app_version: str = "", base_dir: str | None = None
) -> bytes:
    """The packed chart of bundle folder ``folder``, dependencies vendored under charts/ (``base_dir``:
    the base bundle of a differential bundle)."""
    chart = bundle_folder_files(bundle_dir, folder, base_dir)
    name = chart_name(chart["Chart.yaml"])
    chart["Chart.yaml"] = set_chart_versions(chart["Chart.yaml"], version, app_version)
    members = {f"{name}/{path}": data for path, data in chart.items()}
    for dependency in dependencies:
        files = bundle_folder_files(bundle_dir, dependency, base_dir)
        dep_name = chart_name(files["Chart.yaml"])
        prefix = f"{name}/charts/{dep_name}/"
        if any(member.startswith(prefix) for member in members):
            raise ChartArchiveError(f"chart {name} already holds charts/{dep_name}; name it once in dependencies")
        members.update({prefix + path: data for path, data in files.items()})
    return build_archive(members)
