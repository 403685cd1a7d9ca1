"""image_build: what decides a rebuild, and the errors a user meets before any build runs.

The real build (podman, skopeo, the Task API Dockerfile) is tested end to end in
tests/containers/test_seed_image.py; here the command runner is a test double that
records argv and answers with a fixed exit code.
"""

from __future__ import annotations

import json

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.content import sha256_digest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_build import (
    BuildError,
    ImageBuilder,
    find_builder,
    inputs_digest,
    stage_context,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout

BASE = "docker.io/library/python:3.13.7-slim-trixie"


@pytest.fixture
def context(tmp_path):
    ctx = tmp_path / "ctx"
    (ctx / "task_api").mkdir(parents=True)
    (ctx / "Dockerfile").write_text("ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n")
    (ctx / "task_api" / "app.py").write_text("print('hi')\n")
    (ctx / "task_api" / "__pycache__").mkdir()
    (ctx / "task_api" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"cache")
    return ctx


def layout_with_base(path) -> OciLayout:
    layout = OciLayout(str(path), create=True)
    config = json.dumps({"os": "linux", "architecture": "amd64", "config": {}}).encode()
    layout.write_bytes(sha256_digest(config), config, "config")
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256_digest(config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    layout.write_bytes(sha256_digest(manifest), manifest, "manifest")
    layout.set_image(
        BASE,
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256_digest(manifest),
            "size": len(manifest),
        },
    )
    return layout


def test_inputs_digest_follows_content_args_and_base_but_not_caches(context, tmp_path):
    staged = stage_context(str(context), {}, str(tmp_path / "s1"))
    first = inputs_digest(staged, "Dockerfile", {"A": "1"}, "sha256:" + "a" * 64)
    assert not (tmp_path / "s1" / "task_api" / "__pycache__").exists()
    assert inputs_digest(staged, "Dockerfile", {"A": "1"}, "sha256:" + "a" * 64) == first
    assert inputs_digest(staged, "Dockerfile", {"A": "2"}, "sha256:" + "a" * 64) != first
    assert inputs_digest(staged, "Dockerfile", {"A": "1"}, "sha256:" + "b" * 64) != first
    (context / "task_api" / "app.py").write_text("print('changed')\n")
    changed = stage_context(str(context), {}, str(tmp_path / "s2"))
    assert inputs_digest(changed, "Dockerfile", {"A": "1"}, "sha256:" + "a" * 64) != first


def test_extra_files_land_in_the_staged_context_only(context, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "x-1-py3-none-any.whl").write_bytes(b"wheel")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    staged = stage_context(str(context), {"pip/wheels": str(wheels), "pip/ca.pem": str(ca)}, str(tmp_path / "s"))
    assert (tmp_path / "s" / "pip" / "wheels" / "x-1-py3-none-any.whl").read_bytes() == b"wheel"
    assert (tmp_path / "s" / "pip" / "ca.pem").is_file()
    assert not (context / "pip").exists()
    assert staged == str(tmp_path / "s")


@pytest.mark.parametrize("rel", ["../outside", "/etc/passwd"])
def test_extra_files_must_stay_inside_the_context(context, tmp_path, rel):
    with pytest.raises(BuildError, match="relative path inside the build context"):
        stage_context(str(context), {rel: str(tmp_path)}, str(tmp_path / "s"))


def test_no_builder_is_a_clear_error():
    with pytest.raises(BuildError, match=r"needs podman or buildah .* apt-get install podman skopeo"):
        find_builder(lambda _name: None)
    assert find_builder(lambda name: f"/usr/bin/{name}" if name == "buildah" else None) == "/usr/bin/buildah"
    with pytest.raises(BuildError, match="needs buildah"):
        find_builder(lambda name: "/usr/bin/podman" if name == "podman" else None, "buildah")


def test_base_must_be_in_the_bundle(context, tmp_path):
    builder = ImageBuilder(lambda argv: (0, "", ""), lambda name: f"/usr/bin/{name}")
    with pytest.raises(BuildError, match=r"base image .* is not in the bundle"):
        builder.build(
            OciLayout(str(tmp_path / "layout"), create=True),
            image="registry.local:5000/gauntlet/task-api:0.1.0",
            context=str(context),
            base=BASE,
            base_arg="PYTHON_IMAGE",
        )


def test_build_commands_and_a_failed_build_reports_the_builders_output(context, tmp_path):
    """Test double runner: records argv, fails the build step with the builder's last lines."""
    calls = []

    def runner(argv):
        calls.append(argv)
        if argv[1] == "build":
            return 1, "", "STEP 3/9: RUN pip install\nERROR: No matching distribution found for fastapi==0.165.0"
        return 0, "", ""

    builder = ImageBuilder(runner, lambda name: f"/usr/bin/{name}", network="none")
    with pytest.raises(
        BuildError,
        match=r"(?s)building registry.local:5000/gauntlet/task-api:0.1.0 with podman failed.*No matching distribution",
    ):
        builder.build(
            layout_with_base(tmp_path / "layout"),
            image="registry.local:5000/gauntlet/task-api:0.1.0",
            context=str(context),
            base=BASE,
            base_arg="PYTHON_IMAGE",
            build_args={"PIP_NO_INDEX": "1", "SOURCE_DATE_EPOCH": "1767225600"},
        )
    load, build, *rest = calls
    assert load[:3] == ["/usr/bin/skopeo", "copy", "--quiet"]
    assert load[3] == f"oci:{tmp_path / 'layout'}:{BASE}" and load[4] == f"containers-storage:{BASE}"
    assert build[:3] == ["/usr/bin/podman", "build", "--pull=never"]
    assert build[build.index("--network") : build.index("--network") + 2] == ["--network", "none"]
    # The base is pinned by the digest the bundle holds (and locks), not by its tag.
    base_digest = {e.name: e.digest for e in OciLayout(str(tmp_path / "layout")).entries()}[BASE]
    assert f"PYTHON_IMAGE=docker.io/library/python@{base_digest}" in build and "PIP_NO_INDEX=1" in build
    # SOURCE_DATE_EPOCH fixes the image's timestamps too (reproducible: same inputs, same digest).
    assert build[build.index("--timestamp") + 1] == "1767225600"
    assert any(arg.startswith("gauntlet.build-inputs=sha256:") for arg in build)
    assert rest == [], "nothing is exported after a failed build"


def test_check_mode_builds_nothing(context, tmp_path):
    builder = ImageBuilder(lambda argv: pytest.fail(f"ran {argv}"), lambda name: None)
    result = builder.build(
        layout_with_base(tmp_path / "layout"),
        image="registry.local:5000/gauntlet/task-api:0.1.0",
        context=str(context),
        base=BASE,
        base_arg="PYTHON_IMAGE",
        check_mode=True,
    )
    assert result["status"] == "would_build" and result["digest"] is None
