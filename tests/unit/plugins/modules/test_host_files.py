"""host_files: several files and folders in one module run, converged reruns change nothing."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.modules import host_files

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(files, capsys, check=False, diff=False):
    args = {"files": files, "_ansible_check_mode": check, "_ansible_diff": diff}
    with patch_module_args(args), pytest.raises(SystemExit):
        host_files.main()
    return json.loads(capsys.readouterr().out)


def entries(tmp_path, content="a=1\n", mode="0644"):
    return [
        {"path": str(tmp_path / "conf.d"), "state": "directory", "owner": OWNER, "group": GROUP, "mode": "0750"},
        {
            "path": str(tmp_path / "conf.d" / "one.conf"),
            "content": content,
            "owner": OWNER,
            "group": GROUP,
            "mode": mode,
        },
        {
            "path": str(tmp_path / "conf.d" / "key"),
            "secret_content": "k3y\n",
            "owner": OWNER,
            "group": GROUP,
            "mode": "0600",
        },
    ]


def test_first_run_writes_everything_and_a_rerun_nothing(tmp_path, capsys):
    files = entries(tmp_path)
    first = run(files, capsys)
    assert first["changed"] is True and first["changed_paths"] == [f["path"] for f in files]
    assert (tmp_path / "conf.d" / "one.conf").read_text() == "a=1\n"
    assert stat.S_IMODE(os.stat(tmp_path / "conf.d").st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "conf.d" / "key").st_mode) == 0o600
    again = run(files, capsys)
    assert again["changed"] is False and again["changed_paths"] == []
    assert again["paths"] == [f["path"] for f in files]  # every entry, changed or not


def test_check_mode_reports_and_writes_nothing(tmp_path, capsys):
    result = run(entries(tmp_path), capsys, check=True, diff=True)
    assert result["changed"] is True and len(result["changed_paths"]) == 3
    assert not (tmp_path / "conf.d").exists()
    assert result["diff"][1]["after"] == "a=1\n"


def test_only_the_changed_file_is_rewritten_and_attributes_are_fixed(tmp_path, capsys):
    run(entries(tmp_path), capsys)
    os.chmod(tmp_path / "conf.d" / "key", 0o644)
    inode = os.stat(tmp_path / "conf.d" / "key").st_ino
    result = run(entries(tmp_path, content="a=2\n"), capsys, diff=True)
    assert result["changed_paths"] == [str(tmp_path / "conf.d" / "one.conf"), str(tmp_path / "conf.d" / "key")]
    assert (tmp_path / "conf.d" / "one.conf").read_text() == "a=2\n"
    # Same content, wrong mode: fixed in place, not rewritten.
    assert stat.S_IMODE(os.stat(tmp_path / "conf.d" / "key").st_mode) == 0o600
    assert os.stat(tmp_path / "conf.d" / "key").st_ino == inode
    assert result["diff"][0]["before"] == "a=1\n" and result["diff"][0]["after"] == "a=2\n"
    assert "mode 0644 -> 0600" in result["diff"][1]["after_header"]


def test_a_secret_never_shows_in_the_diff(tmp_path, capsys):
    result = run(entries(tmp_path), capsys, diff=True)
    assert (tmp_path / "conf.d" / "key").read_text() == "k3y\n"
    assert "k3y" not in json.dumps(result)
    assert "secret content changed" in result["diff"][2]["after"]


def test_created_paths_tell_new_from_changed(tmp_path, capsys):
    first = run(entries(tmp_path), capsys, check=True)
    assert first["created_paths"] == first["changed_paths"]
    run(entries(tmp_path), capsys)
    changed = run(entries(tmp_path, content="a=2\n"), capsys)
    assert changed["created_paths"] == [] and changed["changed_paths"] == [str(tmp_path / "conf.d" / "one.conf")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"owner": "no-such-user-gauntlet"}, "user 'no-such-user-gauntlet' does not exist on this host"),
        ({"mode": "rw-r--r--"}, "is not an octal string"),
        ({"path": "relative/one.conf"}, "the path must be absolute"),
        ({"mode": None}, "mode is required"),
        ({"content": None}, "state=file needs content or secret_content"),
    ],
)
def test_bad_entries_are_named_and_nothing_after_them_is_touched(tmp_path, capsys, change, message):
    files = entries(tmp_path)
    files[1] = {**files[1], **change}
    result = run(files, capsys)
    assert result["failed"] is True and message in result["msg"], result
    assert result["changed_paths"] == [str(tmp_path / "conf.d")]
    assert not (tmp_path / "conf.d" / "key").exists()


def test_a_file_whose_folder_is_missing_says_to_list_the_folder(tmp_path, capsys):
    result = run([entries(tmp_path)[1]], capsys)
    assert "list the folder before the file" in result["msg"]


def test_absent_removes_a_file_once_and_refuses_a_folder(tmp_path, capsys):
    (tmp_path / "htpasswd").write_text("old\n")
    gone = [{"path": str(tmp_path / "htpasswd"), "state": "absent"}]
    assert run(gone, capsys)["changed_paths"] == [str(tmp_path / "htpasswd")]
    assert not (tmp_path / "htpasswd").exists()
    assert run(gone, capsys)["changed"] is False
    refused = run([{"path": str(tmp_path), "state": "absent"}], capsys)
    assert refused["failed"] is True and "removes files only" in refused["msg"]
    assert tmp_path.is_dir()


def test_check_mode_accepts_a_user_an_earlier_task_would_create(tmp_path, capsys):
    files = entries(tmp_path)
    files[0] = {**files[0], "group": "no-such-group-gauntlet"}
    checked = run(files, capsys, check=True)
    assert checked["changed"] is True and "failed" not in checked
    (tmp_path / "conf.d").mkdir()
    assert run(files, capsys, check=True)["changed_paths"][0] == str(tmp_path / "conf.d")
    refused = run(files, capsys)
    assert "group 'no-such-group-gauntlet' does not exist on this host" in refused["msg"]
