"""bundle_wheels without an index: its documentation, bad input, check mode, what a rerun keeps.

Downloads against a real (local) index are in tests/services/test_bundle_wheels.py.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.modules import bundle_wheels

BASE = "docker.io/library/python:3.13.7-slim-trixie"
TARGET = "cp313-manylinux_2_41_x86_64"


def run_module(args, capsys, check_mode=False):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args), pytest.raises(SystemExit):
        bundle_wheels.main()
    return json.loads(capsys.readouterr().out)


def test_docs_match_the_argument_spec():
    doc = yaml.safe_load(bundle_wheels.DOCUMENTATION)
    assert doc["module"] == "bundle_wheels"
    assert set(doc["options"]) == set(bundle_wheels.argument_spec())
    yaml.safe_load(bundle_wheels.EXAMPLES)
    yaml.safe_load(bundle_wheels.RETURN)


@pytest.mark.parametrize(
    ("lock_text", "base", "msg"),
    [
        ("fastapi>=0.1\n", BASE, "is not an exact pin"),
        ("fastapi==0.165.0\n", "docker.io/library/python:3.13-alpine", "cannot tell the Python version and glibc"),
    ],
)
def test_bad_input_is_one_message(tmp_path, capsys, lock_text, base, msg):
    lock = tmp_path / "requirements.lock"
    lock.write_text(lock_text)
    out = run_module({"requirements": [str(lock)], "dest": str(tmp_path / "wheels"), "base_image": base}, capsys)
    assert out["failed"] is True and msg in out["msg"], out


def bundle_with_one_wheel(tmp_path):
    """A bundle that already holds fastapi's wheel, locked, plus a wheel no pin names any more."""
    wheels = tmp_path / "bundle" / "wheels"
    wheels.mkdir(parents=True)
    name = "fastapi-0.165.0-py3-none-any.whl"
    (wheels / name).write_bytes(b"a wheel")
    (wheels / "old-1.0-py3-none-any.whl").write_bytes(b"an old wheel")
    lock = bundle_lock.empty_lock()
    entry = {
        "name": "fastapi",
        "version": "0.165.0",
        "filename": name,
        "sha256": hashlib.sha256(b"a wheel").hexdigest(),
        "target": TARGET,
    }
    bundle_lock.set_wheels(lock, [entry, dict(entry, name="old", version="1.0", filename="old-1.0-py3-none-any.whl")])
    bundle_lock.write_lock(str(tmp_path / "bundle" / "bundle.lock.json"), lock)
    requirements = tmp_path / "requirements.lock"
    requirements.write_text("FastAPI==0.165.0\n")
    return {"requirements": [str(requirements)], "dest": str(wheels), "base_image": BASE}, entry


def test_a_complete_bundle_runs_no_pip_and_drops_what_is_no_longer_pinned(tmp_path, capsys, monkeypatch):
    args, entry = bundle_with_one_wheel(tmp_path)
    monkeypatch.setattr(bundle_wheels.AnsibleModule, "run_command", lambda *a, **k: pytest.fail(f"ran {a}"))
    checked = run_module(args, capsys, check_mode=True)
    assert checked["changed"] is True and checked["removed"] == ["old-1.0-py3-none-any.whl"]
    assert (tmp_path / "bundle" / "wheels" / "old-1.0-py3-none-any.whl").exists(), "check mode removes nothing"
    out = run_module(args, capsys)
    assert out["changed"] is True and out["wheels"] == [dict(entry, status="present")]
    assert sorted(p.name for p in (tmp_path / "bundle" / "wheels").iterdir()) == [entry["filename"]]
    assert bundle_lock.load_lock(str(tmp_path / "bundle" / "bundle.lock.json"))["wheels"] == [entry]
    again = run_module(args, capsys)
    assert again["changed"] is False and again["target"] == TARGET


def test_check_mode_reports_the_missing_wheels_and_writes_nothing(tmp_path, capsys, monkeypatch):
    args, _entry = bundle_with_one_wheel(tmp_path)
    (tmp_path / "requirements.lock").write_text("fastapi==0.165.0\nruff==0.17.6\n")
    monkeypatch.setattr(bundle_wheels.AnsibleModule, "run_command", lambda *a, **k: pytest.fail(f"ran {a}"))
    before = (tmp_path / "bundle" / "bundle.lock.json").read_text()
    out = run_module(args, capsys, check_mode=True)
    assert out["changed"] is True
    assert {w["name"]: w["status"] for w in out["wheels"]} == {"fastapi": "present", "ruff": "would_download"}
    assert (tmp_path / "bundle" / "bundle.lock.json").read_text() == before
