from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import chart_archive as ca
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock

CHART_YAML = b"""apiVersion: "v2"
# this version will be updated by the CI before publishing the Helm tarball
appVersion: edge-XX.X.X
name: "demo"
dependencies:
  - name: partials
    version: 0.1.0
    repository: file://../partials
# this version will be updated by the CI before publishing the Helm tarball
version: 0.0.0-undefined
maintainers:
  - name: someone
    version: not-top-level
"""
PARTIALS_YAML = b"apiVersion: v1\nname: partials\nversion: 0.1.0\n"


def members(archive: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return {m.name: (m, tar.extractfile(m).read()) for m in tar.getmembers()}


def make_bundle(root: Path, files: dict, lock_extra: dict | None = None) -> Path:
    lock = bundle_lock.empty_lock()
    for name, data in files.items():
        path = root / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        bundle_lock.set_file(lock, name, hashlib.sha256(data).hexdigest(), url=f"https://example.invalid/{name}")
    for name, sha in (lock_extra or {}).items():
        bundle_lock.set_file(lock, name, sha, url="https://example.invalid/x")
    bundle_lock.write_lock(str(root / "bundle.lock.json"), lock)
    return root


@pytest.fixture
def bundle(tmp_path):
    return make_bundle(
        tmp_path,
        {
            "demo/1.0/charts/demo/Chart.yaml": CHART_YAML,
            "demo/1.0/charts/demo/values.yaml": b"linkerdVersion: linkerdVersionValue\n",
            "demo/1.0/charts/demo/templates/a.yaml": b"kind: ConfigMap\n",
            "demo/1.0/charts/demo/.helmignore": b"*.bak\n",
            "demo/1.0/charts/partials/Chart.yaml": PARTIALS_YAML,
            "demo/1.0/charts/partials/templates/_p.tpl": b'{{- define "p" -}}x{{- end -}}\n',
            "demo/1.0/charts/demo-extra/Chart.yaml": b"name: other\nversion: 1.0.0\n",
        },
    )


def test_archive_is_byte_identical_and_normalised():
    files = {"c/b.txt": b"b", "c/a.txt": b"a", "c/sub/z.txt": b"z" * 3000}
    first = ca.build_archive(files)
    assert first == ca.build_archive(dict(reversed(list(files.items()))))
    header = gzip.GzipFile(fileobj=io.BytesIO(first))
    header.read()
    assert header.mtime == 0
    # No file name in the gzip header (FNAME flag clear).
    assert first[3] & 0x08 == 0
    found = members(first)
    assert list(found) == ["c/a.txt", "c/b.txt", "c/sub/z.txt"]
    for info, _unused in found.values():
        assert (info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname) == (
            ca.ARCHIVE_MTIME,
            0o644,
            0,
            0,
            "",
            "",
        )
        assert info.isreg()
    assert found["c/sub/z.txt"][1] == b"z" * 3000


@pytest.mark.parametrize("bad", ["/abs", "c/../x", "c//x", "./c", ""])
def test_archive_refuses_unsafe_member_names(bad):
    with pytest.raises(ca.ChartArchiveError, match="relative path"):
        ca.build_archive({bad: b"x"})


def test_archive_refuses_empty_and_non_bytes():
    with pytest.raises(ca.ChartArchiveError, match="no files"):
        ca.build_archive({})
    with pytest.raises(ca.ChartArchiveError, match="bytes"):
        ca.build_archive({"c/x": "text"})


def test_set_versions_replaces_only_top_level_lines():
    out = ca.set_chart_versions(CHART_YAML, "2026.8.3", "edge-26.8.3").decode()
    assert 'version: "2026.8.3"' in out
    assert 'appVersion: "edge-26.8.3"' in out
    assert "0.0.0-undefined" not in out and "edge-XX.X.X" not in out
    # Nested keys, comments and order stay as published.
    assert "    version: not-top-level" in out
    assert out.count("# this version will be updated") == 2
    assert out.index("appVersion") < out.index("name:") < out.index('version: "2026.8.3"')


def test_set_versions_appends_a_missing_app_version_and_keeps_unset_ones():
    chart = b"name: crds\nversion: 0.0.0-undefined\n"
    assert ca.set_chart_versions(chart, "", "") == chart
    out = ca.set_chart_versions(chart, "1.2.3", "edge-1.2.3").decode()
    assert out == 'name: crds\nversion: "1.2.3"\nappVersion: "edge-1.2.3"\n'


@pytest.mark.parametrize(
    ("version", "app_version", "message"),
    [("edge-26.8.3", "", "SemVer"), ("1.2.3", "bad version", "plain version"), ("1.2.3\n", "", "SemVer")],
)
def test_set_versions_refuses_bad_versions(version, app_version, message):
    with pytest.raises(ca.ChartArchiveError, match=message):
        ca.set_chart_versions(CHART_YAML, version, app_version)


def test_set_versions_needs_a_version_line():
    with pytest.raises(ca.ChartArchiveError, match="no top-level version"):
        ca.set_chart_versions(b"name: x\n", "1.0.0")


def test_chart_name():
    assert ca.chart_name(CHART_YAML) == "demo"
    for bad in (b"version: 1\n", b"name: Bad_Name\n", b": : :\n", b"- a\n"):
        with pytest.raises(ca.ChartArchiveError):
            ca.chart_name(bad)


def test_chart_archive_packs_the_chart_and_vendors_dependencies(bundle):
    archive = ca.chart_archive(
        str(bundle), "demo/1.0/charts/demo", ["demo/1.0/charts/partials"], version="1.0.0", app_version="edge-1.0.0"
    )
    found = members(archive)
    assert sorted(found) == [
        "demo/.helmignore",
        "demo/Chart.yaml",
        "demo/charts/partials/Chart.yaml",
        "demo/charts/partials/templates/_p.tpl",
        "demo/templates/a.yaml",
        "demo/values.yaml",
    ]
    # The folder prefix must not swallow a sibling folder (charts/demo-extra).
    assert b'version: "1.0.0"' in found["demo/Chart.yaml"][1]
    assert found["demo/values.yaml"][1] == b"linkerdVersion: linkerdVersionValue\n"
    assert found["demo/charts/partials/Chart.yaml"][1] == PARTIALS_YAML
    again = ca.chart_archive(
        str(bundle), "demo/1.0/charts/demo/", ["demo/1.0/charts/partials"], version="1.0.0", app_version="edge-1.0.0"
    )
    assert again == archive


def test_chart_archive_stops_on_a_changed_file(bundle):
    (bundle / "files/demo/1.0/charts/demo/templates/a.yaml").write_bytes(b"kind: Secret\n")
    with pytest.raises(ca.ChartArchiveError, match="sha256"):
        ca.chart_archive(str(bundle), "demo/1.0/charts/demo")


def test_chart_archive_stops_on_a_missing_file(bundle):
    (bundle / "files/demo/1.0/charts/partials/templates/_p.tpl").unlink()
    with pytest.raises(ca.ChartArchiveError, match="missing"):
        ca.chart_archive(str(bundle), "demo/1.0/charts/demo", ["demo/1.0/charts/partials"])


def test_chart_archive_needs_a_chart_yaml_in_the_lock(bundle):
    with pytest.raises(ca.ChartArchiveError, match=r"no demo/2\.0/charts/demo/Chart\.yaml"):
        ca.chart_archive(str(bundle), "demo/2.0/charts/demo")


def test_chart_archive_needs_a_lock(tmp_path):
    with pytest.raises(ca.ChartArchiveError, match="does not exist"):
        ca.chart_archive(str(tmp_path), "demo/1.0/charts/demo")


@pytest.mark.parametrize("folder", ["", "/", "demo/../x"])
def test_chart_archive_refuses_bad_folders(bundle, folder):
    with pytest.raises(ca.ChartArchiveError, match="relative path"):
        ca.chart_archive(str(bundle), folder)


def test_chart_archive_refuses_a_dependency_twice(bundle):
    with pytest.raises(ca.ChartArchiveError, match="once"):
        ca.chart_archive(str(bundle), "demo/1.0/charts/demo", ["demo/1.0/charts/partials"] * 2)
