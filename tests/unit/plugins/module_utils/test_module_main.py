"""run_module: the main() of the gitea_* and drone_* modules (failure message, finish, exit)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.module_utils.services.module_main import run_module

SPEC = {"name": {"type": "str", "required": True}}


def exit_output(capsys, run, finish=None) -> dict:
    with patch_module_args({"name": "argocd"}), pytest.raises(SystemExit):
        run_module(SPEC, run, (ValueError,), lambda p: f"thing {p['name']}", finish)
    return json.loads(capsys.readouterr().out)


def test_a_listed_exception_fails_with_the_object_named(capsys):
    def run(_params, _check_mode):
        raise ValueError("it broke")

    out = exit_output(capsys, run)
    assert out["failed"] is True and out["msg"] == "thing argocd: it broke"


def test_finish_shapes_the_result(capsys):
    def run(params, check_mode):
        return {"changed": False, "name": params["name"], "check_mode": check_mode, "id": 7}

    def finish(_module, result):
        result.pop("id")
        return result

    out = exit_output(capsys, run, finish)
    assert out["changed"] is False and out["name"] == "argocd" and out["check_mode"] is False and "id" not in out


def test_an_unlisted_exception_is_not_swallowed(capsys):
    def run(_params, _check_mode):
        raise KeyError("bug")

    with patch_module_args({"name": "argocd"}), pytest.raises(KeyError):
        run_module(SPEC, run, (ValueError,), lambda p: p["name"])
