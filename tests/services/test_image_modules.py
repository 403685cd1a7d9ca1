"""The image_bundle and image_preload modules end to end against real registries."""

from __future__ import annotations

import hashlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.modules import image_bundle, image_preload

pytestmark = pytest.mark.integration


def run_module(module, args, capsys, check=False, diff=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def test_bundle_then_preload(registry_factory, test_images, tmp_path, capsys):
    upstream = registry_factory()
    push_bundle(
        OciLayout(str(test_images.write_layout(tmp_path / "src"))), RegistryClient(upstream.host, plain_http=True)
    )
    images = [f"{upstream.host}/{name}" for name in test_images.images]
    dest = tmp_path / "bundle" / "images"
    args = {"images": images, "dest": str(dest), "plain_http_registries": [upstream.host]}

    checked = run_module(image_bundle, args, capsys, check=True)
    assert checked["changed"] is True
    assert not dest.exists()

    first = run_module(image_bundle, args, capsys, diff=True)
    assert first["changed"] is True, first
    assert {i["status"] for i in first["images"]} == {"pulled"}
    assert first["bytes_pulled"] > 0
    lock = bundle_lock.load_lock(first["lock_file"], missing_ok=False)
    assert first["lock_file"] == str(tmp_path / "bundle" / "bundle.lock.json")
    locked = {e["name"]: e for e in lock["images"]}
    for name, (digest, _mt) in test_images.images.items():
        assert locked[f"{upstream.host}/{name}"]["digest"] == digest
    assert locked[f"{upstream.host}/ghcr.io/gauntlet/multi:3"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert "diff" in first

    second = run_module(image_bundle, args, capsys)
    assert second["changed"] is False
    assert {i["status"] for i in second["images"]} == {"present"}

    # Offline phase: preload into a fresh registry with auth.
    local = registry_factory(auth=True)
    pre = {
        "src": [str(dest)],
        "registry": local.host,
        "plain_http": True,
        "username": local.username,
        "password": local.password,
    }
    would = run_module(image_preload, pre, capsys, check=True, diff=True)
    assert would["changed"] is True
    assert {i["status"] for i in would["images"]} == {"would_push"}
    assert local.catalog() == []
    pushed = run_module(image_preload, pre, capsys)
    assert pushed["changed"] is True
    assert pushed["bytes_pushed"] > 0
    for item in pushed["images"]:
        path = item["name"].replace(upstream.host, upstream.host.replace(":", "_"))
        assert item["target"] == f"{local.host}/{path}"
        raw = local.inspect_raw(path)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == item["digest"] == locked[item["name"]]["digest"]
    again = run_module(image_preload, pre, capsys)
    assert again["changed"] is False
    assert again["bytes_pushed"] == 0
    assert local.password not in json.dumps(again)


def test_preload_errors_are_actionable(registry_factory, test_images, tmp_path, capsys):
    local = registry_factory(auth=True)
    src = str(test_images.write_layout(tmp_path / "bundle"))
    bad = run_module(
        image_preload,
        {"src": [src], "registry": local.host, "plain_http": True, "username": local.username, "password": "nope"},
        capsys,
    )
    assert bad["failed"] is True
    assert "wrong username or password" in bad["msg"]
    assert "nope" not in json.dumps(bad)
    missing = run_module(
        image_preload, {"src": [str(tmp_path / "none")], "registry": local.host, "plain_http": True}, capsys
    )
    assert "does not exist" in missing["msg"]
    unknown = run_module(
        image_preload,
        {
            "src": [src],
            "registry": local.host,
            "plain_http": True,
            "username": local.username,
            "password": local.password,
            "images": ["nginx:9"],
        },
        capsys,
    )
    assert "images not in" in unknown["msg"]
    assert "docker.io/library/nginx:9" in unknown["msg"] or "nginx:9" in unknown["msg"]
