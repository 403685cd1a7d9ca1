"""registry_inventory_info without a registry: arguments, the lock, the docs."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.doc_fragments.registry_connection import (
    ModuleDocFragment as RegistryConnection,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.modules import registry_inventory_info as mod

DIGEST = "sha256:" + "c" * 64


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        mod.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def lock_file(tmp_path):
    lock = bundle_lock.empty_lock()
    bundle_lock.set_image(lock, "quay.io/keycloak/keycloak:26.7.4", DIGEST)
    bundle_lock.set_image(lock, "docker.io/library/python:3.13.7-slim-trixie", DIGEST)
    path = tmp_path / "bundle.lock.json"
    bundle_lock.write_lock(str(path), lock)
    return path


def test_locked_images_selection(lock_file):
    lock = bundle_lock.load_lock(str(lock_file), missing_ok=False)
    assert [e["name"] for e in mod.locked_images(lock, None)] == [
        "docker.io/library/python:3.13.7-slim-trixie",
        "quay.io/keycloak/keycloak:26.7.4",
    ]
    assert [e["name"] for e in mod.locked_images(lock, ["quay.io/keycloak/keycloak:26.7.4"])] == [
        "quay.io/keycloak/keycloak:26.7.4"
    ]
    with pytest.raises(bundle_lock.BundleLockError, match="images not in the bundle lock: nginx:1"):
        mod.locked_images(lock, ["nginx:1"])


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"registry": "a/b"}, "registry or image name: invalid registry host"),
        ({"registry": "r:5000", "concurrency": 0}, "concurrency must be at least 1"),
        ({"registry": "r:5000", "retries": -1}, "retries must be 0 or more"),
        ({"registry": "r:5000", "username": "u"}, "username and password must be given together"),
        ({"registry": "r:5000", "plain_http": True, "ca_file": "/ca.crt"}, "plain_http=true"),
        ({"registry": "r:5000", "images": ["nginx:1"]}, "images not in the bundle lock"),
    ],
)
def test_bad_arguments(args, msg, lock_file, capsys):
    out = run_module({"lock_file": str(lock_file), **args}, capsys)
    assert out["failed"] is True
    assert msg in out["msg"]


def test_missing_lock_says_how_to_build_it(tmp_path, capsys):
    out = run_module({"lock_file": str(tmp_path / "none.json"), "registry": "r:5000"}, capsys)
    assert out["failed"] is True
    assert "build the bundle with playbooks/bundle.yml" in out["msg"]


def test_unreachable_registry_fails_with_its_name(lock_file, capsys):
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    out = run_module({"lock_file": str(lock_file), "registry": "127.0.0.1:9", "plain_http": True, "retries": 0}, capsys)
    assert out["failed"] is True
    assert "cannot reach registry 127.0.0.1:9" in out["msg"]


def test_docs_match_the_argument_spec():
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(mod.DOCUMENTATION)
    assert doc["module"] == "registry_inventory_info"
    assert "gauntlet.platform.registry_connection" in doc["extends_documentation_fragment"]
    fragment = yaml.safe_load(RegistryConnection.DOCUMENTATION)["options"]
    assert set(doc["options"]) | set(fragment) == set(mod.argument_spec())
    assert mod.argument_spec()["password"]["no_log"] is True
    # Plain strings only: "a: b" in a list item would be a mapping, and ansible-doc fails on it.
    assert all(isinstance(line, str) for key in ("description", "notes") for line in doc.get(key, []))
    yaml.safe_load(mod.EXAMPLES)
    yaml.safe_load(mod.RETURN)
