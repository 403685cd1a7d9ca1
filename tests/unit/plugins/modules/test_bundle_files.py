"""bundle_files: the lock's files section is exactly the list; a file no longer listed leaves the
lock and the bundle's files folder (check mode first), never a file outside that folder."""

from __future__ import annotations

import hashlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.modules import bundle_files


def run_module(args, capsys, check=False, diff=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        bundle_files.main()
    return json.loads(capsys.readouterr().out)


def names(lock_file):
    return [e["name"] for e in bundle_lock.load_lock(str(lock_file))["files"]]


def test_a_file_no_longer_listed_leaves_the_lock_and_the_folder(tmp_path, capsys):
    files = tmp_path / "bundle" / "files"
    for name in ("k3s/v1.36.3+k3s1/k3s", "k3s/v1.36.4+k3s1/k3s", "demo/install.yaml"):
        (files / name).parent.mkdir(parents=True, exist_ok=True)
        (files / name).write_text(name)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not the bundle's")
    lock = tmp_path / "bundle" / "bundle.lock.json"
    old = [{"name": "k3s/v1.36.3+k3s1/k3s"}, {"name": "demo/install.yaml"}, {"name": "extra", "path": str(outside)}]
    assert run_module({"lock_file": str(lock), "files_dir": str(files), "files": old}, capsys)["changed"] is True
    assert names(lock) == ["demo/install.yaml", "extra", "k3s/v1.36.3+k3s1/k3s"]

    # The upgrade: k3s v1.36.3 -> v1.36.4, the extra file dropped.
    new = {"lock_file": str(lock), "files_dir": str(files), "files": [{"name": "k3s/v1.36.4+k3s1/k3s"}, old[1]]}
    would = run_module(new, capsys, check=True, diff=True)
    assert would["changed"] is True and would["removed"] == ["extra", "k3s/v1.36.3+k3s1/k3s"]
    assert '"name": "k3s/v1.36.3+k3s1/k3s"' in would["diff"]["before"]
    assert '"name": "k3s/v1.36.3+k3s1/k3s"' not in would["diff"]["after"]
    assert (files / "k3s/v1.36.3+k3s1/k3s").is_file() and names(lock)[0] == "demo/install.yaml"
    assert len(names(lock)) == 3

    done = run_module(new, capsys)
    assert done["removed"] == would["removed"]
    assert names(lock) == ["demo/install.yaml", "k3s/v1.36.4+k3s1/k3s"]
    assert done["files"][1]["sha256"] == hashlib.sha256(b"k3s/v1.36.4+k3s1/k3s").hexdigest()
    assert not (files / "k3s/v1.36.3+k3s1").exists()  # the file and the folder it left empty
    assert (files / "k3s/v1.36.4+k3s1/k3s").is_file() and (files / "demo/install.yaml").is_file()
    assert outside.read_text() == "not the bundle's"  # recorded with its own path: not the bundle's to delete

    again = run_module(new, capsys)
    assert again["changed"] is False and again["removed"] == []


def test_docs_parse():
    yaml = pytest.importorskip("yaml")
    for text in (bundle_files.DOCUMENTATION, bundle_files.EXAMPLES, bundle_files.RETURN):
        yaml.safe_load(text)
    assert "removed" in yaml.safe_load(bundle_files.RETURN)
