"""The seed Task API image: the image Argo CD deploys first comes from the bundle.

gitops/task-api/kustomization.yaml deploys registry.local:5000/gauntlet/task-api:<tag>.
No upstream registry has it: playbooks/bundle.yml builds it from apps/task-api on the
connected machine and stores it in the bundle like every other image, and preload pushes
it to the local registry at gauntlet/task-api (issue 11 item 5, review finding B5).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import python_base_double as python_base_double_image
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_list import images_from_manifests
from resolved_vars import VARS_PLAYBOOK

REPO = Path(__file__).resolve().parents[2]
GITOPS = REPO / "gitops"


def inventory_vars(tmp_path: Path, ansible_env, names: list[str], extra: dict, host: str = "k3s_servers[0]") -> dict:
    """Variables of a host (the first k3s server) of inventory/sample, templated by Ansible itself."""
    playbook = tmp_path / "vars.yml"
    playbook.write_text(VARS_PLAYBOOK)
    dest = tmp_path / "vars.json"
    result = subprocess.run(
        [
            "ansible-playbook",
            str(playbook),
            "-i",
            str(REPO / "inventory" / "sample"),
            "-e",
            json.dumps({"__names": names, "__dest": str(dest), "__host": host, **extra}),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(dest.read_text())


def kustomize_images(directory: Path) -> list[str]:
    """Images of a kustomization as kustomize renders it (resources + images transformer).

    ``kubectl kustomize`` (the real kustomize) when kubectl is installed; otherwise the
    same two fields applied here: every container image whose name matches an
    ``images`` entry gets its newName/newTag/digest.
    """
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            return images_from_manifests([d for d in yaml.safe_load_all(out.stdout) if d])
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        objects += [d for d in yaml.safe_load_all((directory / resource).read_text()) if d]
    found = set()
    for image in images_from_manifests(objects, normalize=False):
        name = image.split("@")[0]
        if ":" in name.rsplit("/", 1)[-1]:
            name = name.rsplit(":", 1)[0]
        for entry in kustomization.get("images", []):
            if entry["name"] == name:
                new = entry.get("newName", name)
                image = f"{new}@{entry['digest']}" if "digest" in entry else f"{new}:{entry.get('newTag', 'latest')}"
        found.add(image)
    return images_from_manifests([{"kind": "Pod", "spec": {"containers": [{"image": i} for i in found]}}])


def gitops_images() -> list[str]:
    images = set()
    for kustomization in sorted(GITOPS.glob("*/kustomization.yaml")):
        images.update(kustomize_images(kustomization.parent))
    return sorted(images)


def test_gitops_deploys_the_seed_image():
    assert "registry.local:5000/gauntlet/task-api:0.1.0" in gitops_images()


def test_every_image_the_gitops_manifests_deploy_is_in_the_bundle(tmp_path, ansible_env):
    """B5: the bundle's computed image list (what bundle.yml puts into the bundle and preload
    pushes) must hold every image Argo CD deploys from gitops/, or the pods never start.

    Manifests of the bundle files are left out here (gauntlet_bundle_files: []): the images
    gitops deploys are not among them."""
    resolved = inventory_vars(
        tmp_path,
        ansible_env,
        ["gauntlet_bundle_images"],
        {"gauntlet_bundle_files": [], "gauntlet_bundle_dir": str(tmp_path / "bundle")},
    )
    missing = set(gitops_images()) - set(resolved["gauntlet_bundle_images"])
    assert not missing, f"gitops deploys images the bundle never carries: {sorted(missing)}"


def test_bundle_inputs_resolve_on_the_implicit_localhost(tmp_path, ansible_env):
    """playbooks/bundle.yml runs on the implicit localhost, which Ansible gives no
    inventory_dir: the bundle's paths must resolve there too (from the -i source)."""
    resolved = inventory_vars(
        tmp_path,
        ansible_env,
        ["gauntlet_bundle_dir", "gauntlet_bundle_image_lists", "gauntlet_bundle_builds"],
        {},
        host="localhost",
    )
    assert Path(resolved["gauntlet_bundle_dir"]).resolve() == REPO / "bundle"
    for path in resolved["gauntlet_bundle_image_lists"]:
        assert Path(path).is_file(), path
    (seed,) = resolved["gauntlet_bundle_builds"]
    assert seed["image"] == "registry.local:5000/gauntlet/task-api:0.1.0"
    assert Path(seed["context"]).resolve() == REPO / "apps" / "task-api"
    images_txt = (REPO / "apps/task-api/images.txt").read_text().split()
    assert seed["base"] in images_txt, "the seed must build FROM a base the bundle carries (images.txt)"
    assert seed["base_arg"] == "PYTHON_IMAGE"


# -- preload: an image named under the local registry keeps its own path ---------------

SEED = "registry.local:5000/gauntlet/task-api:0.1.0"


def run_module(module, args, capsys):
    from ansible.module_utils.testing import patch_module_args

    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.integration
def test_preload_pushes_an_image_named_under_the_local_registry_at_its_own_path(
    registry_factory, test_images, tmp_path, capsys
):
    """Preload reaches the registry by address (<node_ip>:5000, roles/image_preload defaults)
    while pods pull it by name (registry.local:5000). The seed image must land where the
    Deployment pulls it from: repository gauntlet/task-api, not registry.local_5000/gauntlet/task-api
    (the path an upstream registry gets under the local one)."""
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
    from ansible_collections.gauntlet.platform.plugins.modules import image_preload

    layout_dir = test_images.write_layout(tmp_path / "bundle" / "images", names=["quay.io/gauntlet/base:1"])
    digest, media_type = test_images.images["quay.io/gauntlet/base:1"]
    OciLayout(str(layout_dir)).set_image(
        SEED, {"mediaType": media_type, "digest": digest, "size": len(test_images.blobs[digest])}
    )
    local = registry_factory()
    args = {
        "src": [str(layout_dir)],
        "registry": local.host,
        "plain_http": True,
        "registry_name": "registry.local:5000",
    }
    pushed = run_module(image_preload, args, capsys)
    targets = {i["name"]: i["target"] for i in pushed["images"]}
    assert targets[SEED] == f"{local.host}/gauntlet/task-api:0.1.0"
    assert targets["quay.io/gauntlet/base:1"] == f"{local.host}/quay.io/gauntlet/base:1"
    assert local.has_manifest("gauntlet/task-api", "0.1.0")
    assert sorted(local.catalog()) == ["gauntlet/task-api", "quay.io/gauntlet/base"]
    assert run_module(image_preload, args, capsys)["changed"] is False


# -- bundle.yml builds the seed image, offline, from a wheelhouse --------------------------


def need(name: str) -> str:
    found = shutil.which(name)
    if not found:
        skip_or_fail(f"{name} is not installed (Debian packages: scripts/apt-packages.d/images.txt)")
    return found


def skip_or_fail(reason: str) -> None:
    if os.environ.get("GAUNTLET_REQUIRE_ALL") == "1":
        pytest.fail(f"GAUNTLET_REQUIRE_ALL=1 but {reason}")
    pytest.skip(reason)


def run(*argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=timeout)


@pytest.fixture(scope="module")
def python_base_double(tmp_path_factory):
    """The stand-in for the Dockerfile's python:3.13-slim base (tests/python_base_double.py).
    Returns (image name in containers-storage, wheelhouse folder)."""
    return python_base_double_image.build(tmp_path_factory.mktemp("python-base-double"))


@pytest.mark.integration
def test_bundle_builds_the_seed_image_offline_and_preload_pushes_it(
    python_base_double, registry_factory, tmp_path, run_playbook, capsys
):
    from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
    from ansible_collections.gauntlet.platform.plugins.modules import image_preload

    podman, skopeo = need("podman"), need("skopeo")
    double, wheels = python_base_double
    # The "upstream" the bundle pulls the base from: a real registry on loopback.
    upstream = registry_factory()
    base = f"{upstream.host}/docker.io/library/python:3.11-double"
    copied = run(
        skopeo, "copy", "--quiet", "--dest-tls-verify=false", f"containers-storage:{double}", f"docker://{base}"
    )
    assert copied.returncode == 0, copied.stderr
    bundle = tmp_path / "bundle"
    extra = {
        "gauntlet_bundle_dir": str(bundle),
        "gauntlet_bundle_files": [],
        "gauntlet_bundle_image_lists": [],
        "gauntlet_bundle_extra_images": [base],
        "gauntlet_bundle_plain_http_registries": [upstream.host],
        # The inventory's own gauntlet_bundle_builds entry, with the double as base and
        # pip pointed at the wheelhouse; the build has no network at all.
        "gauntlet_task_api_base_image": base,
        "gauntlet_task_api_build_args": {
            "PIP_FIND_LINKS": "/build/pip/wheels",
            "PIP_NO_INDEX": "1",
            "SOURCE_DATE_EPOCH": "1767225600",
        },
        "gauntlet_task_api_build_files": {"pip/wheels": str(wheels)},
        "gauntlet_bundle_build_network": "none",
        # The bundle's wheels are tested against a local index (test_bundle_wheels.py); none here.
        "gauntlet_bundle_wheel_requirements": [],
    }
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps(extra))
    first = run_playbook("bundle.yml", REPO / "inventory" / "sample", "-e", f"@{varfile}")
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]

    layout = OciLayout(str(bundle / "images"))
    entries = {e.name: e for e in layout.entries()}
    assert SEED in entries, f"layout has {sorted(entries)}"
    lock = bundle_lock.load_lock(str(bundle / "bundle.lock.json"), missing_ok=False)
    locked = bundle_lock.get_image(lock, SEED)
    assert locked and locked["digest"] == entries[SEED].digest
    assert locked["source"] == "build task-api/Dockerfile"
    assert locked["platforms"] == ["linux/amd64"]
    assert bundle_lock.get_image(lock, base)["digest"] == entries[base].digest

    # The image runs the app, offline (network none): load it from the bundle, as a peer would.
    under_test = "localhost/gauntlet-seed-under-test:latest"
    loaded = run(skopeo, "copy", "--quiet", f"oci:{bundle / 'images'}:{SEED}", f"containers-storage:{under_test}")
    assert loaded.returncode == 0, loaded.stderr
    try:
        inspect = json.loads(run(podman, "image", "inspect", under_test).stdout)[0]
        assert inspect["Config"]["User"] == "10001:10001"
        assert inspect["Config"]["Entrypoint"] == ["python3", "-m", "task_api"]
        assert inspect["Config"]["Labels"]["gauntlet.build-inputs"].startswith("sha256:")
        assert inspect["Created"].startswith("2026-01-01T00:00:00"), "SOURCE_DATE_EPOCH dates the image"
        imports = run(
            podman,
            "run",
            "--rm",
            "--network",
            "none",
            "--read-only",
            "--entrypoint",
            "python3",
            under_test,
            "-c",
            "import task_api.app, uvloop, httptools, asyncpg, cryptography, jwt; print('imports ok')",
        )
        assert imports.returncode == 0 and "imports ok" in imports.stdout, imports.stderr[-2000:]
        # The entrypoint itself: without configuration it reports what is missing and exits 2.
        serve = run(podman, "run", "--rm", "--network", "none", "--read-only", under_test)
        assert serve.returncode == 2, serve.stdout + serve.stderr
        assert "TASK_API_DATABASE_URL" in serve.stdout + serve.stderr
        nopip = run(podman, "run", "--rm", "--network", "none", "--entrypoint", "ls", under_test, "/opt/venv/bin")
        assert "pip" not in nopip.stdout.split(), "the runtime venv must not carry pip"
    finally:
        run(podman, "rmi", under_test)

    # A second bundle run builds nothing and changes nothing.
    second = run_playbook("bundle.yml", REPO / "inventory" / "sample", "-e", f"@{varfile}")
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-2000:]
    recap = second.stdout.split("PLAY RECAP", 1)[1]
    assert "changed=0" in recap, second.stdout[-3000:]
    assert {e.name: e.digest for e in OciLayout(str(bundle / "images")).entries()}[SEED] == entries[SEED].digest

    # Preload (offline phase) pushes it where the Deployment pulls it: gauntlet/task-api:<tag>.
    local = registry_factory()
    args = {
        "src": [str(bundle / "images")],
        "registry": local.host,
        "plain_http": True,
        "registry_name": "registry.local:5000",
    }
    pushed = run_module(image_preload, args, capsys)
    targets = {i["name"]: i for i in pushed["images"]}
    assert targets[SEED]["target"] == f"{local.host}/gauntlet/task-api:0.1.0"
    raw = local.inspect_raw("gauntlet/task-api:0.1.0")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == locked["digest"]
    # The base the build loaded into the builder's storage names this test's registry port.
    run(podman, "rmi", base)


def test_bundle_without_a_builder_stops_before_any_download(tmp_path, capsys, monkeypatch):
    """No podman or buildah on the connected machine: one clear message, before the pulls
    (the registry named here does not exist; reaching it would be a different error)."""
    from ansible_collections.gauntlet.platform.plugins.modules import image_bundle

    monkeypatch.setattr(shutil, "which", lambda _name, *a, **k: None)
    args = {
        "images": ["127.0.0.1:9/docker.io/library/python:3", SEED],
        "dest": str(tmp_path / "bundle" / "images"),
        "builds": [{"image": SEED, "context": str(REPO / "apps" / "task-api")}],
    }
    out = run_module(image_bundle, args, capsys)
    assert out["failed"] is True
    assert "needs podman or buildah" in out["msg"] and "apt-get install podman skopeo" in out["msg"]
    assert not (tmp_path / "bundle" / "images").exists()
