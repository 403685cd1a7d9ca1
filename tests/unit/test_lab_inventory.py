"""The lab inventory gets exactly the sample's configuration, plus what scripts/lab writes.

inventory/lab/group_vars/all/ links every file of the sample's group_vars/all (so the
lab runs what a VM cluster gets) and leaves room for zz-lab.yml, which `scripts/lab up`
writes (the bundle folder a rerun needs) and git ignores. The rerun itself is tested by
scripts/lab-test, which needs podman and root.
"""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "inventory" / "lab" / "group_vars" / "all"
SAMPLE = REPO / "inventory" / "sample" / "group_vars" / "all"


def test_every_sample_file_is_linked():
    assert sorted(p.name for p in SAMPLE.glob("*.yml")) == sorted(
        p.name for p in LAB.glob("*.yml") if p.name != "zz-lab.yml"
    )
    for sample in SAMPLE.glob("*.yml"):
        link = LAB / sample.name
        assert link.is_symlink() and link.resolve() == sample.resolve(), sample.name


def test_generated_files_are_ignored_by_git():
    for generated in ("inventory/lab/hosts.yml", "inventory/lab/group_vars/all/zz-lab.yml"):
        result = subprocess.run(["git", "check-ignore", "-q", generated], cwd=REPO, check=False)
        assert result.returncode == 0, f"{generated} is not git-ignored"


def test_the_lab_writes_the_bundle_folder_into_the_inventory():
    script = (REPO / "scripts" / "lab").read_text()
    assert "LAB_VARS=inventory/lab/group_vars/all/zz-lab.yml" in script
    assert 'echo "gauntlet_bundle_dir: $1"' in script
    # The rerun line the lab prints is the one scripts/lab-test runs.
    assert 'RERUN="ansible-playbook playbooks/site.yml -i inventory/lab --tags <stage>"' in script
