"""Argument validation of the image modules (no registry needed)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.doc_fragments.registry_connection import (
    ModuleDocFragment as RegistryConnection,
)
from ansible_collections.gauntlet.platform.plugins.modules import image_bundle, image_preload


def run_module(module, args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("args", "msg"),
    [
        ({"src": ["/x"], "registry": "a/b"}, "registry: invalid registry host"),
        ({"src": ["/x"], "registry": "r:5000", "concurrency": 0}, "concurrency must be at least 1"),
        ({"src": ["/x"], "registry": "r:5000", "plain_http": True, "ca_file": "/ca"}, "plain_http=true"),
        ({"src": ["/x"], "registry": "r:5000", "username": "u"}, "username and password"),
        ({"src": ["/nonexistent/bundle"], "registry": "r:5000"}, "does not exist"),
    ],
)
def test_preload_bad_args(args, msg, capsys):
    out = run_module(image_preload, args, capsys)
    assert out["failed"] is True
    assert msg in out["msg"]


def test_bundle_bad_image(tmp_path, capsys):
    out = run_module(image_bundle, {"images": ["Not A Ref"], "dest": str(tmp_path / "b")}, capsys)
    assert out["failed"] is True
    assert "invalid input" in out["msg"]


def test_bundle_bad_lock(tmp_path, capsys):
    lock = tmp_path / "bundle.lock.json"
    lock.write_text("{broken")
    out = run_module(image_bundle, {"images": [], "dest": str(tmp_path / "images"), "lock_file": str(lock)}, capsys)
    assert out["failed"] is True
    assert "not valid JSON" in out["msg"]


@pytest.mark.parametrize("module", [image_bundle, image_preload])
def test_docs_parse(module):
    yaml = pytest.importorskip("yaml")
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert doc["module"] == module.__name__.rsplit(".", 1)[-1]
    spec = module.argument_spec()
    documented = set(doc["options"])
    if "gauntlet.platform.registry_connection" in doc.get("extends_documentation_fragment", []):
        documented |= set(yaml.safe_load(RegistryConnection.DOCUMENTATION)["options"])
    assert documented == set(spec)
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    for name, opt in spec.items():
        if "password" in name:
            assert opt.get("no_log") is True
