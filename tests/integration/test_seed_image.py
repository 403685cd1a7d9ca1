"""The seed Task API image: the image Argo CD deploys first comes from the bundle.

gitops/task-api/kustomization.yaml deploys registry.local:5000/gauntlet/task-api:<tag>.
No upstream registry has it: playbooks/bundle.yml builds it from apps/task-api on the
connected machine and stores it in the bundle like every other image, and preload pushes
it to the local registry at gauntlet/task-api (issue 11 item 5, review finding B5).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.image_list import images_from_manifests

REPO = Path(__file__).resolve().parents[2]
GITOPS = REPO / "gitops"

VARS_PLAYBOOK = """---
- name: Write the inventory's resolved variables
  hosts: k3s_servers[0]
  gather_facts: false
  tasks:
    - name: Write them as JSON
      ansible.builtin.copy:
        content: "{{ dict(__names | zip(__names | map('extract', vars))) | to_nice_json }}"
        dest: "{{ __dest }}"
        mode: "0600"
      delegate_to: localhost
"""


def inventory_vars(tmp_path: Path, ansible_env, names: list[str], extra: dict) -> dict:
    """Variables of the first k3s server of inventory/sample, templated by Ansible itself."""
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
            json.dumps({"__names": names, "__dest": str(dest), **extra}),
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
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci_layout import OciLayout
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
