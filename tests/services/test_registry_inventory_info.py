"""registry_inventory_info against a real registry (Debian's docker-registry) with TLS and htpasswd auth."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.modules import registry_inventory_info as mod

pytestmark = pytest.mark.integration

MISSING = "sha256:" + "d" * 64


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        mod.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def preloaded(registry_factory, test_images, tmp_path):
    """A TLS registry with auth holding the test images, as image_preload pushes them."""
    reg = registry_factory(auth=True, tls=True)
    push_bundle(
        OciLayout(str(test_images.write_layout(tmp_path / "layout"))), RegistryClient(reg.host, **reg.client_kwargs())
    )
    return reg


def write_lock(path, entries):
    lock = bundle_lock.empty_lock()
    for name, digest in entries:
        bundle_lock.set_image(lock, name, digest)
    bundle_lock.write_lock(str(path), lock)
    return str(path)


def args_for(reg, lock, **extra):
    return {
        "lock_file": lock,
        "registry": reg.host,
        "ca_file": str(reg.ca_file),
        "username": reg.username,
        "password": reg.password,
        "retries": 0,
        **extra,
    }


def test_every_locked_image_present(preloaded, test_images, tmp_path, capsys):
    lock = write_lock(tmp_path / "bundle.lock.json", [(n, d) for n, (d, _mt) in test_images.images.items()])
    out = run_module(args_for(preloaded, lock, _ansible_check_mode=True), capsys)
    assert out["changed"] is False
    assert out["counts"] == {"present": 3, "tag_mismatch": 0, "missing": 0}
    by_name = {i["name"]: i for i in out["images"]}
    multi = by_name["ghcr.io/gauntlet/multi:3"]
    assert multi["target"] == f"{preloaded.host}/ghcr.io/gauntlet/multi:3"
    assert multi["digest"] == multi["tag_digest"] == test_images.images["ghcr.io/gauntlet/multi:3"][0]
    assert preloaded.password not in json.dumps(out)


def test_missing_digest_and_moved_tag(preloaded, test_images, tmp_path, capsys):
    base_digest = test_images.images["quay.io/gauntlet/base:1"][0]
    app_digest = test_images.images["docker.io/gauntlet/app:2"][0]
    lock = write_lock(
        tmp_path / "bundle.lock.json",
        [
            ("quay.io/gauntlet/base:1", base_digest),
            # The bundle says tag 2 of base has base's digest: the digest is there, tag 2 is not.
            ("quay.io/gauntlet/base:2", base_digest),
            # A digest the registry never received.
            ("docker.io/gauntlet/app:2", MISSING),
            # An image that was never pushed at all.
            ("registry.k8s.io/pause:3.10", app_digest),
        ],
    )
    out = run_module(args_for(preloaded, lock), capsys)
    by_name = {i["name"]: i for i in out["images"]}
    assert by_name["quay.io/gauntlet/base:1"]["status"] == "present"
    assert by_name["quay.io/gauntlet/base:2"] | {"target": None} == {
        "name": "quay.io/gauntlet/base:2",
        "target": None,
        "digest": base_digest,
        "tag_digest": None,
        "status": "tag_mismatch",
    }
    assert by_name["docker.io/gauntlet/app:2"]["status"] == "missing"
    assert by_name["registry.k8s.io/pause:3.10"]["status"] == "missing"
    assert out["counts"] == {"present": 1, "tag_mismatch": 1, "missing": 2}


def test_only_some_images(preloaded, test_images, tmp_path, capsys):
    lock = write_lock(tmp_path / "bundle.lock.json", [(n, d) for n, (d, _mt) in test_images.images.items()])
    out = run_module(args_for(preloaded, lock, images=["docker.io/gauntlet/app:2"]), capsys)
    assert [i["name"] for i in out["images"]] == ["docker.io/gauntlet/app:2"]


def test_wrong_password_and_untrusted_certificate(preloaded, test_images, tmp_path, capsys):
    lock = write_lock(tmp_path / "bundle.lock.json", [(n, d) for n, (d, _mt) in test_images.images.items()])
    wrong = run_module(args_for(preloaded, lock, password="not-the-password"), capsys)
    assert wrong["failed"] is True
    assert "wrong username or password" in wrong["msg"]
    assert "not-the-password" not in json.dumps(wrong)
    untrusted = run_module(args_for(preloaded, lock, ca_file=None), capsys)
    assert untrusted["failed"] is True
    assert "TLS verification of registry" in untrusted["msg"]
