"""apps/task-api/Dockerfile builds offline and reproducibly (issue 15, item 4).

``podman build`` of the Dockerfile with the build's network set to a namespace of its own
where only loopback is up and the only server is a PEP 503 index over HTTPS with a CA made
for the test (tests/wheel_index.py): pip trusts that CA through exactly the pipeline's
mechanism (the PEM at ``pip/local-ca.pem`` of the build context, ``--build-arg
PIP_CERT=/build/pip/local-ca.pem``). The base comes from a real registry on loopback,
pinned by the digest the bundle lock records for it. It is a stand-in for python:3.13-slim
(tests/python_base_double.py: Debian's Python 3.11), so the index serves the cp311 wheels
of requirements.lock. Built twice without cache: the same image digest.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import loopback_netns
import pytest
import python_base_double
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from tls_material import make_ca_and_cert

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "apps" / "task-api"
# The pipeline's mechanism (.drone.yml, build step): the CA into the context's pip/, PIP_CERT at it.
CA_IN_CONTEXT = "pip/local-ca.pem"
PIP_CERT = "/build/pip/local-ca.pem"
# A fixed SOURCE_DATE_EPOCH (2026-01-01T00:00:00Z): every timestamp of the image.
EPOCH = "1767225600"

pytestmark = pytest.mark.integration


def run(*argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=timeout)


def test_the_pipeline_hands_pip_the_ca_the_way_this_test_does():
    """One mechanism for the pipeline's image build and the bundle's: a file in the context."""
    pipeline = next(d for d in yaml.safe_load_all((APP / ".drone.yml").read_text()) if d["kind"] == "pipeline")
    steps = {s["name"]: " ".join(str(c) for c in s.get("commands", [])) for s in pipeline["steps"]}
    (commands,) = [c for c in steps.values() if "--build-arg" in c and "PIP_INDEX_URL" in c]
    assert f"apps/task-api/{CA_IN_CONTEXT}" in commands, commands
    assert f"PIP_CERT={PIP_CERT}" in commands, commands
    assert f"/{CA_IN_CONTEXT}" in (APP / "Dockerfile").read_text()
    # The other inputs this test fixes the way the pipeline does: the base by digest (the
    # secret python_base_image, <local registry>/<name>@sha256:... from the bundle lock) and
    # SOURCE_DATE_EPOCH (the commit's time there, EPOCH here).
    assert '--build-arg "PYTHON_IMAGE=$${PYTHON_IMAGE}"' in commands, commands
    assert '--build-arg "SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH}"' in commands, commands


def stage_context(dest: Path, ca_file: Path) -> Path:
    shutil.copytree(
        APP,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", ".venv", "bench", "tests"),
    )
    for leftover in (dest / "pip").iterdir():
        if leftover.name not in ("README.md", ".gitignore"):
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    shutil.copyfile(ca_file, dest / CA_IN_CONTEXT)
    return dest


@pytest.fixture
def index_in_netns(tmp_path):
    """The wheel index, started inside a loopback-only network namespace: (netns path, URL, CA)."""
    loopback_netns.require()
    base_tag, wheels = python_base_double.build(tmp_path / "double")
    tls = tmp_path / "tls"
    tls.mkdir()
    ca, cert, key = make_ca_and_cert(tls)
    port_file = tmp_path / "index.port"
    server = subprocess.Popen(
        loopback_netns.isolated(
            [
                sys.executable,
                str(REPO / "tests" / "wheel_index.py"),
                "serve",
                str(tmp_path / "index"),
                str(port_file),
                str(ca),
                str(cert),
                str(key),
                str(wheels),
            ]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _attempt in range(300):
            if port_file.exists() or server.poll() is not None:
                break
            time.sleep(0.1)
        assert port_file.exists(), f"the index did not start: {server.communicate(timeout=5)}"
        # unshare and sh exec the server: its pid is the namespace's first process.
        yield base_tag, f"/proc/{server.pid}/ns/net", f"https://127.0.0.1:{port_file.read_text()}/simple", ca
    finally:
        server.kill()
        server.wait(timeout=30)


def test_dockerfile_builds_offline_from_the_local_index_and_twice_gives_the_same_image(
    index_in_netns, registry_factory, tmp_path, capsys
):
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.gauntlet.platform.plugins.modules import image_bundle

    podman, skopeo = python_base_double.need("podman"), python_base_double.need("skopeo")
    double, netns, index_url, ca = index_in_netns

    # The base in a registry on loopback, bundled: the lock records its digest.
    registry = registry_factory()
    base = f"{registry.host}/docker.io/library/python:3.11-double"
    copied = run(
        skopeo, "copy", "--quiet", "--dest-tls-verify=false", f"containers-storage:{double}", f"docker://{base}"
    )
    assert copied.returncode == 0, copied.stderr
    args = {"images": [base], "dest": str(tmp_path / "bundle" / "images"), "plain_http_registries": [registry.host]}
    with patch_module_args(args), pytest.raises(SystemExit):
        image_bundle.main()
    assert json.loads(capsys.readouterr().out)["changed"] is True
    digest = bundle_lock.get_image(bundle_lock.load_lock(str(tmp_path / "bundle" / "bundle.lock.json")), base)["digest"]
    pinned = f"{base.rsplit(':', 1)[0]}@{digest}"

    # The build's network: loopback only, with the index and nothing else (not even the registry).
    probe = "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)"
    port = index_url.split(":")[2].split("/")[0]
    reach = run(podman, "run", "--rm", "--network", f"ns:{netns}", double, "python3", "-c", probe, port)
    assert reach.returncode == 0, reach.stderr
    reach = run(podman, "run", "--rm", "--network", f"ns:{netns}", double, "python3", "-c", probe, str(registry.port))
    assert reach.returncode != 0, "the build's network namespace must not reach the registry"

    context = stage_context(tmp_path / "context", ca)

    def build(tag: str, *extra: str) -> subprocess.CompletedProcess:
        return run(
            podman,
            "build",
            "--no-cache",
            "--pull=missing",
            "--tls-verify=false",
            "--network",
            f"ns:{netns}",
            "--timestamp",
            EPOCH,
            "--build-arg",
            f"PYTHON_IMAGE={pinned}",
            "--build-arg",
            f"PIP_INDEX_URL={index_url}",
            "--build-arg",
            f"SOURCE_DATE_EPOCH={EPOCH}",
            *extra,
            "--tag",
            tag,
            str(context),
        )

    tags = ["localhost/gauntlet-offline-build-test:one", "localhost/gauntlet-offline-build-test:two"]
    try:
        # Without the CA pip cannot verify the index: the CA file is what makes the build work.
        untrusted = build("localhost/gauntlet-offline-build-test:untrusted")
        assert untrusted.returncode != 0
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout + untrusted.stderr, untrusted.stderr[-3000:]

        digests = []
        for tag in tags:
            built = build(tag, "--build-arg", f"PIP_CERT={PIP_CERT}")
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
            layout = tmp_path / f"oci-{tag.rsplit(':', 1)[1]}"
            exported = run(skopeo, "copy", "--quiet", f"containers-storage:{tag}", f"oci:{layout}:task-api")
            assert exported.returncode == 0, exported.stderr
            index = json.loads((layout / "index.json").read_text())
            image_id = run(podman, "image", "inspect", "--format", "{{.Id}}", tag).stdout.strip()
            digests.append((image_id, index["manifests"][0]["digest"]))
        assert digests[0] == digests[1], f"two builds of the same inputs differ: (image id, manifest digest) {digests}"

        imports = run(
            podman,
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--entrypoint",
            "python3",
            tags[0],
            "-c",
            "import task_api.app, uvloop, asyncpg, cryptography, jwt; print('imports ok')",
        )
        assert imports.returncode == 0 and "imports ok" in imports.stdout, imports.stderr[-2000:]
        created = run(podman, "image", "inspect", "--format", "{{.Created.Unix}}", tags[0]).stdout.strip()
        assert created == EPOCH
        # Reproducible beyond this builder's per-instruction timestamps: bytecode is hash-based
        # (a .pyc of a timestamp build embeds its source's mtime; kaniko keeps install times),
        # and the user's last password change is SOURCE_DATE_EPOCH's day, not the build's.
        pyc_flags = run(
            podman,
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "python3",
            tags[0],
            "-c",
            "import glob; print(sorted({int.from_bytes(open(f, 'rb').read(8)[4:8], 'little') "
            "for f in glob.glob('/opt/venv/**/*.pyc', recursive=True) + glob.glob('/app/**/*.pyc', recursive=True)}))",
        )
        assert pyc_flags.stdout.strip() == "[1]", f"pyc flags (0 = timestamp, 1 = unchecked hash): {pyc_flags.stdout}"
        shadow = run(
            podman, "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "cat", tags[0], "/etc/shadow"
        )
        (entry,) = [line for line in shadow.stdout.splitlines() if line.startswith("task-api:")]
        assert entry.split(":")[2] == str(int(EPOCH) // 86400), entry
    finally:
        for tag in [*tags, pinned]:
            run(podman, "rmi", "--force", tag)
