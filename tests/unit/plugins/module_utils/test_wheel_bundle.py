"""module_utils/bundle/wheels: the decisions behind the bundle's wheels."""

import hashlib
import re
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import wheels as wb

REPO = Path(__file__).resolve().parents[4]
TASK_API = REPO / "apps" / "task-api"
TRIXIE_313 = wb.Target("3.13", (2, 41))


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# -- the locks ------------------------------------------------------------------------------


def test_read_pins_merges_locks_canonicalises_names_and_keeps_hashes(tmp_path):
    a = write(tmp_path / "a.lock", "# comment\nPyJWT==2.15.1\nprometheus_client==0.26.0  # inline\n\n")
    b = write(
        tmp_path / "b.lock",
        f"pyjwt==2.15.1 \\\n    --hash=sha256:{'a' * 64} \\\n    --hash=sha256:{'b' * 64}\nruff==0.17.6\n",
    )
    pins = wb.read_pins([a, b])
    assert [p.requirement for p in pins] == ["prometheus-client==0.26.0", "pyjwt==2.15.1", "ruff==0.17.6"]
    assert pins[1].hashes == ["a" * 64, "b" * 64]
    assert pins[1].where == f"{a}:2"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("fastapi>=0.1", "is not an exact pin"),
        ("-r requirements.txt", "is not an exact pin"),
        ('tomli==2.0; python_version < "3.11"', "is not an exact pin"),
        ("fastapi==0.165.0 --hash=md5:abc", "unsupported option '--hash=md5:abc'"),
    ],
)
def test_read_pins_refuses_what_is_not_an_exact_pin_naming_file_and_line(tmp_path, line, expected):
    path = write(tmp_path / "x.lock", f"ok==1\n{line}\n")
    with pytest.raises(wb.WheelBundleError, match=re.escape(f"{path}:2: ")) as caught:
        wb.read_pins([path])
    assert expected in str(caught.value)


def test_read_pins_refuses_two_versions_of_one_package(tmp_path):
    a = write(tmp_path / "a.lock", "certifi==1\n")
    b = write(tmp_path / "b.lock", "Certifi==2\n")
    with pytest.raises(wb.WheelBundleError, match=r"certifi is pinned twice with different versions: 1 \(.*a.lock:1\)"):
        wb.read_pins([a, b])
    with pytest.raises(wb.WheelBundleError, match="cannot read the requirements lock"):
        wb.read_pins([str(tmp_path / "absent.lock")])


def test_the_task_api_locks_agree_and_the_dev_lock_covers_the_pipeline_tools():
    """requirements-dev.lock (what the lint/test steps and the bundle install) pins every
    runtime package at the image's version and every tool of requirements-dev.txt."""
    runtime = {p.name: p.version for p in wb.read_pins([str(TASK_API / "requirements.lock")])}
    dev = {p.name: p.version for p in wb.read_pins([str(TASK_API / "requirements-dev.lock")])}
    assert {n: dev.get(n) for n in runtime} == runtime
    wb.read_pins([str(TASK_API / "requirements.lock"), str(TASK_API / "requirements-dev.lock")])
    for source in ("requirements-dev.txt", "requirements.txt"):
        for line in (TASK_API / source).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-r"):
                continue
            name, version = re.sub(r"\[.*\]", "", line).split("==")
            assert dev.get(wb.canonical_name(name)) == version, f"{source}: {line} is not in requirements-dev.lock"


def test_the_pipeline_installs_the_dev_lock():
    """Parsed as Drone parses it: every command a string (an unquoted ':all: ' makes a mapping)."""
    import yaml

    pipeline = next(d for d in yaml.safe_load_all((TASK_API / ".drone.yml").read_text()) if d["kind"] == "pipeline")
    commands = [c for step in pipeline["steps"] for c in step.get("commands", [])]
    assert all(isinstance(c, str) for c in commands), [c for c in commands if not isinstance(c, str)]
    installs = [c for c in commands if "pip install" in c]
    assert len(installs) == 2, "the lint and test steps install their tools with pip"
    for command in installs:
        assert "-r apps/task-api/requirements-dev.lock" in command and "--only-binary=:all:" in command, command


# -- the target -----------------------------------------------------------------------------


def test_target_of_the_dockerfile_base():
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (TASK_API / "Dockerfile").read_text(), re.M).group(1)
    target = wb.target_from_image(base)
    assert target == TRIXIE_313
    assert (target.abi, target.key) == ("cp313", "cp313-manylinux_2_41_x86_64")
    assert wb.target_from_image("registry.local:5000/docker.io/library/python:3.12-bookworm@sha256:" + "a" * 64) == (
        wb.Target("3.12", (2, 36))
    )


@pytest.mark.parametrize("image", ["python:3.13-alpine", "python:latest", "python:3.13-slim-sid", "debian:12"])
def test_target_of_an_image_that_does_not_say_its_python_and_glibc(image):
    with pytest.raises(wb.WheelBundleError, match="cannot tell the Python version and glibc"):
        wb.target_from_image(image)


def test_platforms_cover_every_manylinux_level_up_to_the_glibc_and_no_newer():
    platforms = TRIXIE_313.platforms()
    assert platforms[0] == "manylinux_2_41_x86_64"
    for tag in ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"):
        assert tag in platforms
    assert "manylinux_2_42_x86_64" not in platforms and not any(p.startswith("linux_") for p in platforms)
    assert wb.Target("3.13", (2, 36), "aarch64").platforms()[0] == "manylinux_2_36_aarch64"


def test_pip_download_is_for_the_target_wheels_only_and_isolated():
    argv = wb.pip_download_argv("/py", "/r.txt", TRIXIE_313, "/d", "https://idx/simple", "/ca.pem")
    joined = " ".join(argv)
    for part in (
        "/py -m pip download --isolated",
        "--no-deps --only-binary=:all:",
        "--python-version 3.13 --implementation cp --abi cp313",
        "--platform manylinux_2_41_x86_64",
        "--index-url https://idx/simple --dest /d --requirement /r.txt --cert /ca.pem",
    ):
        assert part in joined
    assert "--cert" not in wb.pip_download_argv("/py", "/r.txt", TRIXIE_313, "/d", "https://idx/simple")
    assert wb.pip_environment("/ca.pem") == {"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": ""}
    assert wb.pip_environment(None) == {}
    pins = [wb.Pin("a", "1", "x:1", ["f" * 64]), wb.Pin("b", "2", "x:2")]
    assert wb.requirements_text(pins) == f"a==1 --hash=sha256:{'f' * 64}\nb==2\n"


# -- what is there already ------------------------------------------------------------------


def entry(tmp_path, name="fastapi", version="0.165.0", data=b"wheel", target=TRIXIE_313):
    filename = f"{name}-{version}-py3-none-any.whl"
    (tmp_path / filename).write_bytes(data)
    return {
        "name": name,
        "version": version,
        "filename": filename,
        "sha256": hashlib.sha256(data).hexdigest(),
        "target": target.key,
    }


def test_plan_keeps_a_wheel_with_the_recorded_hash_and_downloads_everything_else(tmp_path):
    kept = entry(tmp_path)
    pins = [wb.Pin("fastapi", "0.165.0", "x:1"), wb.Pin("ruff", "0.17.6", "x:2")]
    present, missing = wb.plan(pins, [kept], str(tmp_path), TRIXIE_313)
    assert present == [kept] and [p.name for p in missing] == ["ruff"]
    # Another version, another target, a pin hash that differs, a changed or absent file: download.
    for pin, target in (
        (wb.Pin("fastapi", "0.166.0", "x:1"), TRIXIE_313),
        (wb.Pin("fastapi", "0.165.0", "x:1"), wb.Target("3.12", (2, 36))),
        (wb.Pin("fastapi", "0.165.0", "x:1", ["0" * 64]), TRIXIE_313),
    ):
        assert wb.plan([pin], [kept], str(tmp_path), target)[0] == []
    (tmp_path / kept["filename"]).write_bytes(b"corrupt")
    assert wb.plan(pins[:1], [kept], str(tmp_path), TRIXIE_313)[0] == []
    (tmp_path / kept["filename"]).unlink()
    assert wb.plan(pins[:1], [kept], str(tmp_path), TRIXIE_313)[0] == []


def test_collect_records_each_download_and_refuses_what_was_not_asked_or_changed(tmp_path):
    pins = [wb.Pin("fastapi", "0.165.0", "x:1")]
    first = entry(tmp_path)
    assert wb.collect(str(tmp_path), pins, TRIXIE_313, []) == [first]
    with pytest.raises(wb.WheelBundleError, match="the bundle lock recorded " + "0" * 64):
        wb.collect(str(tmp_path), pins, TRIXIE_313, [dict(first, sha256="0" * 64)])
    with pytest.raises(wb.WheelBundleError, match="x:1 allows " + "0" * 64):
        wb.collect(str(tmp_path), [wb.Pin("fastapi", "0.165.0", "x:1", ["0" * 64])], TRIXIE_313, [])
    with pytest.raises(wb.WheelBundleError, match="downloaded no wheel for ruff==1"):
        wb.collect(str(tmp_path), [*pins, wb.Pin("ruff", "1", "x:2")], TRIXIE_313, [])
    entry(tmp_path, name="other")
    with pytest.raises(wb.WheelBundleError, match="which no pin asked for"):
        wb.collect(str(tmp_path), pins, TRIXIE_313, [])


def test_pip_failures_become_one_message_naming_the_package():
    no_wheel = (
        "ERROR: Could not find a version that satisfies the requirement onlysdist==1.0 (from versions: none)\n"
        "ERROR: No matching distribution found for onlysdist==1.0\n"
    )
    msg = wb.explain_pip_failure(no_wheel, TRIXIE_313, "https://idx/simple")
    assert msg.startswith("package onlysdist==1.0 has no wheel for cp313-manylinux_2_41_x86_64")
    mismatch = (
        "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE. ...\n"
        "    fastapi==0.165.0 from https://idx/files/fastapi-0.165.0-py3-none-any.whl#sha256=00:\n"
        f"        Expected sha256 {'0' * 64}\n"
        f"             Got        {'1' * 64}\n"
    )
    msg = wb.explain_pip_failure(mismatch, TRIXIE_313, "https://idx/simple")
    assert f"fastapi==0.165.0 (fastapi-0.165.0-py3-none-any.whl): expected sha256 {'0' * 64}, got {'1' * 64}" in msg
    tls = (
        "Could not fetch URL ...: [SSL: CERTIFICATE_VERIFY_FAILED] ...\nERROR: No matching distribution found for a==1"
    )
    assert "pass its CA with gauntlet_bundle_wheel_ca_file" in wb.explain_pip_failure(tls, TRIXIE_313, "u")
    assert wb.explain_pip_failure("boom\n", TRIXIE_313, "u") == "pip download from u failed:\nboom"
    missing_pip = wb.explain_pip_failure("/usr/bin/python3: No module named pip", TRIXIE_313, "u")
    assert "needs pip for the Python" in missing_pip


# -- the lock's wheels section --------------------------------------------------------------


def test_lock_wheels_section_round_trips_sorted_and_is_validated(tmp_path):
    lock = bundle_lock.empty_lock()
    wheel = {"name": "b", "version": "1", "filename": "b-1-py3-none-any.whl", "sha256": "c" * 64, "target": "t"}
    bundle_lock.set_wheels(lock, [wheel, dict(wheel, name="a", filename="a-1-py3-none-any.whl")])
    path = tmp_path / "bundle.lock.json"
    assert bundle_lock.write_lock(str(path), lock) is True
    assert [w["name"] for w in bundle_lock.load_lock(str(path))["wheels"]] == ["a", "b"]
    assert bundle_lock.write_lock(str(path), bundle_lock.load_lock(str(path))) is False
    with pytest.raises(bundle_lock.BundleLockError, match="invalid wheel entry"):
        bundle_lock.set_wheels(lock, [dict(wheel, sha256="xyz")])
