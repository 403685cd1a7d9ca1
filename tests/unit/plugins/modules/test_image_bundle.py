"""image_bundle's removal of images no longer listed, without a registry: an emptied list (nothing to
pull) over a bundle made by tests/lock_bundle.py. With a partial list against a real registry:
tests/services/test_bundle_playbook.py::test_a_rerun_drops_what_the_lists_no_longer_name."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.modules import image_bundle
from lock_bundle import make_bundle


def run_module(args, capsys, check=False, diff=False):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        image_bundle.main()
    return json.loads(capsys.readouterr().out)


def blobs(folder):
    return sorted(p.name for p in (folder / "images" / "blobs" / "sha256").iterdir())


def test_images_no_longer_listed_leave_lock_and_layout_check_mode_first(tmp_path, capsys):
    made = make_bundle(tmp_path, {"quay.io/a/x:1": ["linux/amd64"], "quay.io/a/y:1": ["linux/amd64", "linux/arm64"]})
    args = {"images": [], "dest": str(tmp_path / "images")}
    before = blobs(tmp_path)
    lock_text = (tmp_path / "bundle.lock.json").read_text()

    would = run_module(args, capsys, check=True, diff=True)
    assert would["changed"] is True
    assert would["removed"] == ["quay.io/a/x:1", "quay.io/a/y:1"]
    assert would["bytes_removed"] == sum(p.stat().st_size for p in (tmp_path / "images/blobs/sha256").iterdir())
    assert '"name": "quay.io/a/y:1"' in would["diff"]["before"] and '"images": []' in would["diff"]["after"]
    assert blobs(tmp_path) == before and (tmp_path / "bundle.lock.json").read_text() == lock_text
    assert len(OciLayout(str(tmp_path / "images")).entries()) == 2

    done = run_module(args, capsys)
    assert done["changed"] is True and done["removed"] == would["removed"]
    assert done["bytes_removed"] == would["bytes_removed"]
    assert OciLayout(str(tmp_path / "images")).entries() == []
    assert blobs(tmp_path) == []
    assert bundle_lock.load_lock(str(tmp_path / "bundle.lock.json"))["images"] == []
    assert made["quay.io/a/y:1"]["locked"][7:] in before

    again = run_module(args, capsys)
    assert again["changed"] is False and again["removed"] == [] and again["bytes_removed"] == 0
