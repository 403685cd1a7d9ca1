"""converge_stamp: a full converge leaves a stamp; one call then says whether the host is still so."""

from __future__ import annotations

import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.modules import converge_stamp


def run(capsys, stamp_dir, check=False, **args):
    args = {"name": "demo", "fingerprint": "f1", "dir": str(stamp_dir), "_ansible_check_mode": check, **args}
    with patch_module_args(args), pytest.raises(SystemExit):
        converge_stamp.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def host(tmp_path):
    managed = tmp_path / "etc"
    managed.mkdir()
    (managed / "one.conf").write_text("a=1\n")
    os.symlink("one.conf", managed / "link")
    return tmp_path


def paths(host):
    return [str(host / "etc"), str(host / "etc" / "one.conf"), str(host / "etc" / "link"), str(host / "etc" / "gone")]


def test_no_stamp_is_not_converged(capsys, host):
    result = run(capsys, host / "stamps")
    assert result["converged"] is False and result["reasons"] == ["no stamp of an earlier converge"]
    assert result["changed"] is False


def test_record_then_check_is_converged_and_record_again_changes_nothing(capsys, host):
    recorded = run(capsys, host / "stamps", record=True, paths=paths(host))
    assert recorded["changed"] is True
    stamp = host / "stamps" / "demo.json"
    assert oct(stamp.stat().st_mode & 0o777) == "0o600" and oct((host / "stamps").stat().st_mode & 0o777) == "0o700"
    result = run(capsys, host / "stamps")
    assert (result["converged"], result["reasons"]) == (True, [])
    assert run(capsys, host / "stamps", record=True, paths=paths(host))["changed"] is False


def test_changed_inputs_are_not_converged(capsys, host):
    run(capsys, host / "stamps", record=True, paths=paths(host))
    result = run(capsys, host / "stamps", fingerprint="f2")
    assert result["reasons"] == ["the role's inputs changed since the last converge"]


@pytest.mark.parametrize(
    "drift",
    [
        lambda etc: (etc / "one.conf").write_text("a=2\n"),
        lambda etc: (etc / "one.conf").unlink(),
        lambda etc: (etc / "one.conf").chmod(0o600),
        lambda etc: (etc / "gone").write_text("new\n"),
        lambda etc: ((etc / "link").unlink(), os.symlink("other", etc / "link")),
    ],
    ids=["content", "removed", "mode", "appeared", "link-target"],
)
def test_a_drifted_path_is_not_converged(capsys, host, drift):
    run(capsys, host / "stamps", record=True, paths=paths(host))
    drift(host / "etc")
    result = run(capsys, host / "stamps")
    assert result["converged"] is False
    assert len(result["reasons"]) == 1 and result["reasons"][0].endswith("changed since the last converge")


def test_an_expired_stamp_is_not_converged(capsys, host):
    run(capsys, host / "stamps", record=True, valid_until=1)
    assert run(capsys, host / "stamps")["reasons"] == ["the stamp has run out (a certificate is due for renewal)"]


def test_units_and_packages_are_asked_once_each(capsys, host, monkeypatch):
    calls = []

    def run_command(self, argv, **_kwargs):
        calls.append(argv)
        if argv[0] == "systemctl":
            return 3, "active\ninactive\n", ""
        return 0, "kmod installed\nprocps deinstall\n", ""

    monkeypatch.setattr(converge_stamp.AnsibleModule, "run_command", run_command)
    run(capsys, host / "stamps", record=True, units=["a.service", "b.service"], packages=["kmod", "procps"])
    assert calls == []  # recording asks nothing
    result = run(capsys, host / "stamps")
    assert result["reasons"] == ["unit b.service is not active", "package procps is not installed"]
    assert [argv[0] for argv in calls] == ["systemctl", "dpkg-query"]


def test_check_mode_records_nothing(capsys, host):
    result = run(capsys, host / "stamps", check=True, record=True, paths=paths(host))
    assert result["changed"] is True and not (host / "stamps").exists()


def test_a_stamp_name_is_a_file_name(capsys, host):
    assert run(capsys, host / "stamps", name="../x")["failed"] is True


def test_an_unreadable_stamp_is_no_stamp(capsys, host):
    (host / "stamps").mkdir()
    (host / "stamps" / "demo.json").write_text("{not json")
    assert run(capsys, host / "stamps")["reasons"] == ["no stamp of an earlier converge"]
