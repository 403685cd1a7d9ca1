"""The gitea_*, git_publish and drone_* modules through main(): documentation equals the argument spec,
errors come back through fail_json with a message, secrets never appear in the output.
"""

from __future__ import annotations

import json

import pytest
import yaml
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.doc_fragments.service_api import ModuleDocFragment
from ansible_collections.gauntlet.platform.plugins.modules import (
    drone_repo,
    drone_secrets,
    git_publish,
    gitea_oauth_app,
    gitea_org,
    gitea_pypi_files,
    gitea_repo,
    gitea_token,
    gitea_user,
    gitea_webhook,
)

MODULES = [
    gitea_user,
    gitea_org,
    gitea_repo,
    gitea_oauth_app,
    gitea_token,
    gitea_pypi_files,
    gitea_webhook,
    git_publish,
    drone_repo,
    drone_secrets,
]
SECRET = "s3cret-that-must-not-leak-0123"


def run_module(module, args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


def documented_options(module) -> dict:
    doc = yaml.safe_load(module.DOCUMENTATION)
    options = dict(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or []:
        name = fragment.rsplit(".", 1)[-1].upper()
        options.update(yaml.safe_load(getattr(ModuleDocFragment, name))["options"])
    return options


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_documentation_matches_the_argument_spec(module, monkeypatch):
    captured = {}

    class Capture(Exception):
        pass

    def fake_init(self, argument_spec, **kwargs):
        captured.update(argument_spec=argument_spec, **kwargs)
        raise Capture

    monkeypatch.setattr(AnsibleModule, "__init__", fake_init)
    with pytest.raises(Capture):
        module.main()
    spec = captured["argument_spec"]
    documented = documented_options(module)
    assert sorted(spec) == sorted(documented)
    assert captured["supports_check_mode"] is True
    for name, option in spec.items():
        assert option.get("type", "str") == documented[name].get("type", "str"), name
        assert bool(option.get("required")) == bool(documented[name].get("required")), name
        if "default" in option:
            assert option["default"] == documented[name].get("default"), name
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)


def test_unreachable_gitea_fails_with_the_reason_and_no_password(capsys):
    out = run_module(
        gitea_user,
        {
            "url": "http://127.0.0.1:9",
            "username": "root",
            "password": SECRET,
            "name": "argocd",
            "email": "a@b.test",
            "user_password": SECRET,
            "timeout": 2,
        },
        capsys,
    )
    assert out["failed"] is True
    assert out["msg"].startswith("gitea user argocd: GET http://127.0.0.1:9/api/v1/users/argocd: cannot connect")
    assert SECRET not in json.dumps(out)


def test_bad_permission_is_refused_by_the_spec(capsys):
    out = run_module(
        gitea_repo,
        {
            "url": "http://127.0.0.1:9",
            "username": "root",
            "password": SECRET,
            "owner": "o",
            "name": "r",
            "collaborators": [{"user": "u", "permission": "owner"}],
        },
        capsys,
    )
    assert out["failed"] is True and "permission" in out["msg"] and "read, write, admin" in out["msg"]


def test_drone_modules_need_owner_and_name(capsys):
    out = run_module(
        drone_secrets,
        {
            "url": "http://127.0.0.1:9",
            "token": SECRET,
            "repo": "task-api",
            "secrets": {"a": SECRET},
            "fingerprint_file": "/nonexistent/f.json",
        },
        capsys,
    )
    assert out["failed"] is True
    assert out["msg"] == "drone secrets of task-api: repo 'task-api' must be owner/name"
    assert SECRET not in json.dumps(out)


def test_gitea_pypi_files_names_the_missing_wheel_and_hides_the_password(tmp_path, capsys):
    wheel = {"name": "demo", "version": "1.0", "filename": "demo-1.0-py3-none-any.whl", "sha256": "a" * 64}
    args = {"url": "http://127.0.0.1:9", "username": "p", "password": SECRET, "owner": "p"}
    out = run_module(gitea_pypi_files, {**args, "directory": str(tmp_path), "wheels": [wheel]}, capsys)
    assert out["failed"] is True
    assert out["msg"].startswith("gitea PyPI registry of p: the bundle's wheels do not match their lock")
    assert "demo-1.0-py3-none-any.whl: listed in the lock but not in" in out["msg"]
    assert SECRET not in json.dumps(out)


def test_git_publish_reports_a_missing_source(tmp_path, capsys):
    out = run_module(
        git_publish,
        {
            "repo_url": str(tmp_path / "nowhere.git"),
            "root": str(tmp_path),
            "sources": [{"src": "missing"}],
            "username": "u",
            "password": SECRET,
        },
        capsys,
    )
    assert out["failed"] is True and "git_publish" in out["msg"]
    assert SECRET not in json.dumps(out)


# validate-modules (ansible_test/_util/controller/sanity/validate-modules/validate_modules/main.py,
# invalid-argument-name): Ansible's engine uses these names itself, as options and as aliases.
RESTRICTED_ARGUMENT_NAMES = ("message", "syslog_facility")


def _restricted(spec: dict, where: str) -> list[str]:
    found = []
    for name, data in spec.items():
        for used in [name, *(data.get("aliases") or [])]:
            if used.lower() in RESTRICTED_ARGUMENT_NAMES:
                found.append(f"{where}{used}")
        found += _restricted(data.get("options") or {}, f"{where}{name}.")
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_no_option_takes_a_name_ansible_reserves(module, monkeypatch):
    captured = {}

    class Capture(Exception):
        pass

    def fake_init(self, argument_spec, **kwargs):
        captured.update(argument_spec=argument_spec)
        raise Capture

    monkeypatch.setattr(AnsibleModule, "__init__", fake_init)
    with pytest.raises(Capture):
        module.main()
    assert _restricted(captured["argument_spec"], "") == []
