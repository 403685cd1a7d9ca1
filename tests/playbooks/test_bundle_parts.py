"""Split bundles for removable media (issue 17 item 11), through the real playbooks.

playbooks/bundle.yml builds and signs a bundle (files from a loopback HTTP server, a real
ssh-keygen key made in tmp_path), playbooks/bundle-split.yml cuts it into 1 MiB parts,
playbooks/bundle-join.yml checks and rebuilds it on the "controller" and verifies its
signature. A missing or corrupt part stops the join naming that part, with nothing written.
"""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from needs import missing
from one_file_bundle import one_file_bundle, varfile

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "inventory/sample"


@pytest.fixture
def signed_bundle(tmp_path, run_playbook):
    keygen = shutil.which("ssh-keygen")
    if not keygen:
        missing("ssh-keygen is not installed (Debian package openssh-client)")
    key = tmp_path / "signer"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    data = os.urandom(2 * 1024 * 1024 + 4321)  # three 1 MiB parts
    with one_file_bundle(tmp_path, data) as variables:
        variables["gauntlet_bundle_signing_key"] = str(key)
        result = run_playbook("bundle.yml", SAMPLE, "-e", varfile(tmp_path, "bundle", variables))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return {"dir": tmp_path / "bundle", "public": (tmp_path / "signer.pub").read_text().strip()}


def files_of(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".joined-parts.json"
    }


def split(tmp_path, run_playbook, bundle, *extra):
    variables = {
        "gauntlet_bundle_dir": str(bundle),
        "gauntlet_bundle_parts_dir": str(tmp_path / "usb"),
        "gauntlet_bundle_part_size": "1M",
    }
    return run_playbook("bundle-split.yml", SAMPLE, "-e", varfile(tmp_path, "split", variables), *extra)


def join(tmp_path, run_playbook, public_key, dest="controller-bundle"):
    variables = {
        "gauntlet_bundle_dir": str(tmp_path / dest),
        "gauntlet_bundle_parts_dir": str(tmp_path / "usb"),
        "gauntlet_bundle_public_key": public_key,
    }
    return run_playbook("bundle-join.yml", SAMPLE, "-e", varfile(tmp_path, "join", variables))


def test_split_then_join_gives_back_the_signed_bundle(tmp_path, run_playbook, signed_bundle):
    first = split(tmp_path, run_playbook, signed_bundle["dir"])
    assert first.returncode == 0, first.stdout + first.stderr
    manifest = json.loads((tmp_path / "usb/bundle.parts.json").read_text())
    assert [part["name"] for part in manifest["parts"]] == [f"bundle.tar.part-000{n}" for n in (1, 2, 3)]
    assert all(part["size"] <= 1024 * 1024 for part in manifest["parts"])
    assert "3 part(s)" in first.stdout
    again = split(tmp_path, run_playbook, signed_bundle["dir"])
    assert again.returncode == 0 and "changed=0" in again.stdout.split("PLAY RECAP", 1)[1], again.stdout

    joined = join(tmp_path, run_playbook, signed_bundle["public"])
    assert joined.returncode == 0, joined.stdout + joined.stderr
    assert files_of(tmp_path / "controller-bundle") == files_of(signed_bundle["dir"])
    assert "Verify the joined bundle's signature" in joined.stdout
    rerun = join(tmp_path, run_playbook, signed_bundle["public"])
    assert rerun.returncode == 0 and "changed=0" in rerun.stdout.split("PLAY RECAP", 1)[1], rerun.stdout


def test_a_missing_part_names_itself(tmp_path, run_playbook, signed_bundle):
    assert split(tmp_path, run_playbook, signed_bundle["dir"]).returncode == 0
    (tmp_path / "usb/bundle.tar.part-0002").unlink()
    result = join(tmp_path, run_playbook, signed_bundle["public"])
    assert result.returncode != 0
    assert "part 2 of 3 (bundle.tar.part-0002) is missing: copy it from the medium" in result.stdout
    assert not (tmp_path / "controller-bundle").exists()


def test_a_corrupt_part_names_itself(tmp_path, run_playbook, signed_bundle):
    assert split(tmp_path, run_playbook, signed_bundle["dir"]).returncode == 0
    part = tmp_path / "usb/bundle.tar.part-0003"
    data = bytearray(part.read_bytes())
    data[-1] ^= 0x01
    part.write_bytes(bytes(data))
    result = join(tmp_path, run_playbook, signed_bundle["public"])
    assert result.returncode != 0
    assert (
        "part 3 of 3 (bundle.tar.part-0003) is corrupt (sha256 differs from the manifest): copy it again"
        in result.stdout
    )
    assert not (tmp_path / "controller-bundle").exists()


def test_consistent_parts_of_a_tampered_bundle_fail_the_signature(tmp_path, run_playbook, signed_bundle):
    # Parts and manifest remade by someone who changed the lock: every part matches its
    # manifest, and the signature check after joining still refuses the bundle.
    lock = signed_bundle["dir"] / "bundle.lock.json"
    lock.write_text(lock.read_text().replace('"version": 1', '"version": 1, "x": 1'))
    assert split(tmp_path, run_playbook, signed_bundle["dir"]).returncode == 0
    result = join(tmp_path, run_playbook, signed_bundle["public"])
    assert result.returncode != 0
    assert "does not match its signature" in result.stdout


def test_split_without_a_size_says_what_to_give(tmp_path, run_playbook, signed_bundle):
    variables = {"gauntlet_bundle_dir": str(signed_bundle["dir"]), "gauntlet_bundle_parts_dir": str(tmp_path / "usb")}
    result = run_playbook("bundle-split.yml", SAMPLE, "-e", varfile(tmp_path, "split", variables))
    assert result.returncode != 0
    assert "-e gauntlet_bundle_part_size=<size, for example 4000M" in result.stdout
