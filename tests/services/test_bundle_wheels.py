"""The bundle carries the Python wheels the delivery loop installs (issue 15, item 1).

playbooks/bundle.yml downloads a wheel of every pin of apps/task-api/requirements.lock
(the image) and requirements-dev.lock (the pipeline's lint/test tools) for the build
image's interpreter, CPython 3.13 on manylinux x86_64, not for this machine's Python 3.11,
and lists each in the bundle lock. Here against a local PEP 503 index served over HTTPS on
127.0.0.1 with a CA made for the test (tests/wheel_index.py), holding real wheels that
scripts/setup fetched from PyPI (.cache/wheels/task-api-bundle), plus a real wheel for
another interpreter (the py311 wheelhouse of the seed image test) and a real sdist.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

import needs
import pytest
import wheel_index
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import wheels as wheel_bundle
from tls_material import make_ca_and_cert

REPO = Path(__file__).resolve().parents[2]
PY311_WHEELS = REPO / ".cache" / "wheels" / "task-api"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def bundle_wheels() -> Path:
    """The real cp313 wheels of both locks (scripts/setup fetched them from PyPI)."""
    cached = wheel_index.cache_dir()
    if not (cached / ".complete").is_file():
        needs.missing(f"no cached bundle wheels at {cached}; run scripts/setup (it fetches them from PyPI)")
    return cached


@pytest.fixture
def serve(tmp_path):
    """Start a WheelIndex over some files; stopped after the test."""
    ca = make_ca_and_cert(tmp_path)
    started = []

    def start(files, fragments=None):
        index = wheel_index.WheelIndex(tmp_path / f"index{len(started)}", files, ca, fragments)
        started.append(index)
        return index

    yield start
    for index in started:
        index.stop()


def other_interpreter_wheel(name: str) -> Path:
    """A real wheel of ``name`` for CPython 3.11 (the seed test's wheelhouse), not for the target."""
    found = sorted(PY311_WHEELS.glob(f"*-py311/{name}-*-cp311-*.whl"))
    if not found:
        needs.missing(f"no cp311 wheel of {name} under {PY311_WHEELS}; run scripts/setup")
    return found[-1]


def make_sdist(directory: Path, name: str, version: str) -> Path:
    """A real (minimal) source distribution: <name>-<version>.tar.gz with PKG-INFO and pyproject.toml."""
    root = directory / f"{name}-{version}"
    root.mkdir(parents=True)
    (root / "PKG-INFO").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (root / "pyproject.toml").write_text(
        f'[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\n'
    )
    archive = directory / f"{name}-{version}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=root.name)
    return archive


def run_module(args, capsys):
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.gauntlet.platform.plugins.modules import bundle_wheels

    with patch_module_args(args), pytest.raises(SystemExit):
        bundle_wheels.main()
    return json.loads(capsys.readouterr().out)


def module_args(tmp_path, index, requirements) -> dict:
    return {
        "requirements": [str(r) for r in requirements],
        "dest": str(tmp_path / "bundle" / "wheels"),
        "base_image": wheel_index.dockerfile_base(),
        "index_url": index.url,
        "ca_file": str(index.ca_file),
    }


def test_bundle_downloads_a_wheel_of_every_pin_for_the_build_image_and_reruns_without_change(
    bundle_wheels, serve, tmp_path, run_playbook
):
    wheels = sorted(bundle_wheels.glob("*.whl"))
    # The index also offers uvloop for CPython 3.11 (this controller's own interpreter): the
    # bundle must take the build image's cp313 wheel, never that one.
    index = serve([*wheels, other_interpreter_wheel("uvloop")])
    bundle = tmp_path / "bundle"
    extra = {
        "gauntlet_bundle_dir": str(bundle),
        "gauntlet_bundle_files": [],
        "gauntlet_bundle_image_lists": [],
        "gauntlet_bundle_extra_images": [],
        "gauntlet_bundle_builds": [],
        "gauntlet_bundle_wheel_index_url": index.url,
        "gauntlet_bundle_wheel_ca_file": str(index.ca_file),
    }
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps(extra))
    first = run_playbook("bundle.yml", REPO / "inventory" / "sample", "-e", f"@{varfile}")
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]

    pins = wheel_bundle.read_pins([str(lock) for lock in wheel_index.LOCKS])
    lock = bundle_lock.load_lock(str(bundle / "bundle.lock.json"), missing_ok=False)
    entries = {e["name"]: e for e in lock["wheels"]}
    assert sorted(entries) == [p.name for p in pins], "one lock entry per pin of both locks"
    for pin in pins:
        entry = entries[pin.name]
        assert entry["version"] == pin.version
        assert entry["target"] == "cp313-manylinux_2_41_x86_64"
        path = bundle / "wheels" / entry["filename"]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        name, version, tags = wheel_bundle.parse_wheel_filename(entry["filename"])
        assert (name, version) == (pin.name, pin.version)
        assert tags.split("-")[1] in ("cp313", "abi3", "none"), f"{entry['filename']} is not for CPython 3.13"
        assert "cp311" not in tags.split("-")[1]
    assert sorted(p.name for p in (bundle / "wheels").iterdir()) == sorted(e["filename"] for e in entries.values())
    assert "cp313" in entries["uvloop"]["filename"]
    assert "45 wheel(s) for cp313-manylinux_2_41_x86_64 (45 downloaded now)" in first.stdout.replace("\n", " ")

    # A rerun downloads nothing (no file requested from the index) and changes nothing.
    index.requests.clear()
    second = run_playbook("bundle.yml", REPO / "inventory" / "sample", "-e", f"@{varfile}")
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-2000:]
    assert "changed=0" in second.stdout.split("PLAY RECAP", 1)[1], second.stdout[-3000:]
    assert index.requests == [], f"the rerun asked the index for {index.requests}"


def test_a_package_without_a_wheel_for_the_build_image_stops_the_bundle_naming_it(
    bundle_wheels, serve, tmp_path, capsys
):
    sdist = make_sdist(tmp_path / "sdist", "onlysdist", "1.0")
    index = serve([other_interpreter_wheel("uvloop"), sdist])
    for requirement, name in (("uvloop==0.23.0", "uvloop==0.23.0"), ("onlysdist==1.0", "onlysdist==1.0")):
        lock = tmp_path / f"{name}.lock"
        lock.write_text(f"{requirement}\n")
        out = run_module(module_args(tmp_path, index, [lock]), capsys)
        assert out.get("failed") is True, out
        assert out["msg"].startswith(f"package {name} has no wheel for cp313-manylinux_2_41_x86_64"), out["msg"]
        assert "pin a version that publishes such a wheel" in out["msg"]
        assert not list((tmp_path / "bundle" / "wheels").glob("*.whl"))
        assert not (tmp_path / "bundle" / "bundle.lock.json").exists()


def test_a_hash_mismatch_stops_the_bundle(bundle_wheels, serve, tmp_path, capsys):
    fastapi = next(bundle_wheels.glob("fastapi-*.whl"))
    good = hashlib.sha256(fastapi.read_bytes()).hexdigest()
    lock = tmp_path / "requirements.lock"
    lock.write_text("fastapi==0.165.0\n")

    # 1. The index page names another sha256 for the file than the file has.
    tampered_page = serve([fastapi], fragments={fastapi.name: "0" * 64})
    out = run_module(module_args(tmp_path, tampered_page, [lock]), capsys)
    assert out.get("failed") is True, out
    assert out["msg"].startswith(f"hash mismatch downloading from {tampered_page.url}: fastapi==0.165.0"), out["msg"]
    assert f"expected sha256 {'0' * 64}, got {good}" in out["msg"]

    # 2. The lock's own --hash does not match the file.
    index = serve([fastapi])
    hashed = tmp_path / "hashed.lock"
    hashed.write_text(f"fastapi==0.165.0 --hash=sha256:{'1' * 64}\n")
    out = run_module(module_args(tmp_path, index, [hashed]), capsys)
    assert out.get("failed") is True, out
    assert out["msg"].startswith("hash mismatch") and f"expected sha256 {'1' * 64}, got {good}" in out["msg"]

    # 3. The index changed a file after the bundle recorded it (its page names the new hash,
    #    so pip accepts it; the bundle lock does not).
    out = run_module(module_args(tmp_path, index, [lock]), capsys)
    assert out["changed"] is True and out["wheels"][0]["sha256"] == good
    assert run_module(module_args(tmp_path, index, [lock]), capsys)["changed"] is False
    (tmp_path / "bundle" / "wheels" / fastapi.name).unlink()
    changed = tmp_path / "changed" / fastapi.name
    changed.parent.mkdir()
    changed.write_bytes(fastapi.read_bytes() + b"\0changed upstream")
    out = run_module(module_args(tmp_path, serve([changed]), [lock]), capsys)
    assert out.get("failed") is True, out
    assert f"the bundle lock recorded {good}" in out["msg"], out["msg"]
    assert bundle_lock.load_lock(str(tmp_path / "bundle" / "bundle.lock.json"))["wheels"][0]["sha256"] == good
