"""Signed bundles end to end (issue 17 item 10): playbooks/bundle.yml signs the lock with a real
ssh-keygen key made in tmp_path, and the offline playbooks verify it in their validation play.

The bundle step runs for real (files from a loopback HTTP server, no images). The offline side
runs playbooks/preload.yml and upgrade.yml against an inventory whose hosts are podman
containers that do not exist (as tests/playbooks/test_inventory_validation.py): a refused
bundle must stop the run in the validation play, with only localhost in the recap; an accepted
one lets the run go on to those hosts (which then fail as unreachable, as they must here).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from needs import missing
from one_file_bundle import one_file_bundle, varfile

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def keygen():
    found = shutil.which("ssh-keygen")
    if not found:
        missing("ssh-keygen is not installed (Debian package openssh-client)")
    return found


def make_key(tmp_path, name, keygen):
    path = tmp_path / "keys" / name
    path.parent.mkdir(exist_ok=True)
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True)
    return path, (path.parent / f"{name}.pub").read_text().strip()


@pytest.fixture
def bundle_vars(tmp_path):
    with one_file_bundle(tmp_path, b"#!/bin/sh\necho stand-in k3s\n") as variables:
        yield variables


def build(tmp_path, run_playbook, bundle_vars, **extra):
    result = run_playbook(
        "bundle.yml", REPO / "inventory/sample", "-e", varfile(tmp_path, "bundle", {**bundle_vars, **extra})
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result


def offline_inventory(tmp_path):
    inventory = {
        "all": {
            "vars": {"ansible_connection": "containers.podman.podman"},
            "children": {
                "k3s_cluster": {
                    "children": {
                        "k3s_servers": {"hosts": {"s1": {"node_ip": "10.77.0.11"}}},
                        "k3s_agents": {"hosts": {"a1": {"node_ip": "10.77.0.21"}}},
                    }
                },
                "registry": {"hosts": {"r1": {"node_ip": "10.77.0.30"}}},
            },
        }
    }
    folder = tmp_path / "inventory"
    if folder.exists():
        return folder
    (folder / "group_vars").mkdir(parents=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump(inventory))
    os.symlink(REPO / "inventory/sample/group_vars/all", folder / "group_vars/all")
    return folder


def offline(tmp_path, run_playbook, playbook, bundle_vars, public_key):
    variables = {"gauntlet_bundle_dir": bundle_vars["gauntlet_bundle_dir"], "gauntlet_bundle_public_key": public_key}
    return run_playbook(playbook, offline_inventory(tmp_path), "-e", varfile(tmp_path, "offline", variables))


def touched_hosts(result):
    recap = result.stdout.split("PLAY RECAP", 1)[1]
    return sorted(line.split()[0] for line in recap.splitlines() if "ok=" in line)


def assert_refused(result, *messages):
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "Stopped before any host was touched, nothing was changed: bundle signature:" in out, out
    for message in messages:
        assert message in out, out
    assert touched_hosts(result) == ["localhost"], result.stdout
    assert "UNREACHABLE" not in out


def assert_went_on(result):
    # Validation passed; the run reached the (non-existent) hosts.
    out = result.stdout + result.stderr
    assert "Stopped before any host was touched" not in out, out
    assert "Verify the bundle's signature" in out
    assert touched_hosts(result) != ["localhost"], out


@pytest.fixture
def signed_bundle(tmp_path, run_playbook, bundle_vars, keygen):
    key, public = make_key(tmp_path, "signer", keygen)
    first = build(tmp_path, run_playbook, bundle_vars, gauntlet_bundle_signing_key=str(key))
    bundle = Path(bundle_vars["gauntlet_bundle_dir"])
    return {"key": key, "public": public, "bundle": bundle, "build": first}


def test_the_bundle_step_signs_the_lock_in_the_standard_format(
    tmp_path, signed_bundle, keygen, run_playbook, bundle_vars
):
    bundle = signed_bundle["bundle"]
    assert "signed (" in signed_bundle["build"].stdout
    signature = (bundle / "bundle.lock.json.sig").read_text()
    assert signature.startswith("-----BEGIN SSH SIGNATURE-----")
    # The standard tool alone, as a user on the air-gapped side would check it.
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'gauntlet-bundle namespaces="gauntlet-bundle" {signed_bundle["public"]}\n')
    with (bundle / "bundle.lock.json").open("rb") as data:
        check = subprocess.run(
            [keygen, "-Y", "verify", "-f", str(allowed), "-I", "gauntlet-bundle", "-n", "gauntlet-bundle",
             "-s", str(bundle / "bundle.lock.json.sig")],
            stdin=data, capture_output=True, text=True, check=False,
        )  # fmt: skip
    assert check.returncode == 0, check.stderr
    # A rerun keeps the signature (idempotent).
    again = build(tmp_path, run_playbook, bundle_vars, gauntlet_bundle_signing_key=str(signed_bundle["key"]))
    assert (bundle / "bundle.lock.json.sig").read_text() == signature
    assert "changed=0" in again.stdout.split("PLAY RECAP", 1)[1]


def test_a_correctly_signed_bundle_lets_the_run_go_on(tmp_path, signed_bundle, run_playbook, bundle_vars):
    assert_went_on(offline(tmp_path, run_playbook, "preload.yml", bundle_vars, signed_bundle["public"]))


def test_a_tampered_lock_stops_every_offline_playbook(tmp_path, signed_bundle, run_playbook, bundle_vars):
    lock = signed_bundle["bundle"] / "bundle.lock.json"
    content = json.loads(lock.read_text())
    content["files"][0]["sha256"] = "0" * 64
    lock.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    for playbook in ("preload.yml", "upgrade.yml"):
        assert_refused(
            offline(tmp_path, run_playbook, playbook, bundle_vars, signed_bundle["public"]),
            "does not match its signature",
            "the lock was changed after it was signed",
        )


def test_a_missing_signature_stops_the_run(tmp_path, signed_bundle, run_playbook, bundle_vars):
    (signed_bundle["bundle"] / "bundle.lock.json.sig").unlink()
    assert_refused(
        offline(tmp_path, run_playbook, "preload.yml", bundle_vars, signed_bundle["public"]),
        "bundle.lock.json.sig is missing: the bundle is unsigned",
        "gauntlet_bundle_signing_key",
    )


def test_an_unsigned_bundle_stops_the_run_when_a_key_is_configured(tmp_path, run_playbook, bundle_vars, keygen):
    _key, public = make_key(tmp_path, "signer", keygen)
    build_result = build(tmp_path, run_playbook, bundle_vars)
    assert "NOT signed" in build_result.stdout
    assert_refused(offline(tmp_path, run_playbook, "preload.yml", bundle_vars, public), "the bundle is unsigned")


def test_a_signature_by_another_key_stops_the_run(tmp_path, signed_bundle, run_playbook, bundle_vars, keygen):
    _other, stranger = make_key(tmp_path, "stranger", keygen)
    assert_refused(
        offline(tmp_path, run_playbook, "preload.yml", bundle_vars, stranger),
        "was not made with the key in gauntlet_bundle_public_key",
    )


def test_a_public_key_that_is_not_one_stops_the_run(tmp_path, signed_bundle, run_playbook, bundle_vars):
    assert_refused(
        offline(tmp_path, run_playbook, "preload.yml", bundle_vars, "-----BEGIN OPENSSH PRIVATE KEY-----"),
        "gauntlet_bundle_public_key is not one OpenSSH public key line",
    )


def test_without_a_public_key_a_signed_bundle_is_not_verified_and_says_so(
    tmp_path, signed_bundle, run_playbook, bundle_vars
):
    (signed_bundle["bundle"] / "bundle.lock.json").write_text("{}\n")  # would fail verification
    result = offline(tmp_path, run_playbook, "preload.yml", bundle_vars, "")
    assert_went_on(result)
    assert "is signed but gauntlet_bundle_public_key is not set: the signature was NOT verified" in (
        result.stdout + result.stderr
    )


def test_reset_does_not_need_the_bundle(tmp_path, signed_bundle, run_playbook, bundle_vars):
    (signed_bundle["bundle"] / "bundle.lock.json.sig").unlink()
    result = offline(tmp_path, run_playbook, "reset.yml", bundle_vars, signed_bundle["public"])
    assert "Stopped before any host was touched" not in result.stdout + result.stderr


def test_an_image_added_to_the_layout_after_signing_stops_the_run(tmp_path, signed_bundle, run_playbook, bundle_vars):
    # The lock still verifies; the layout the preload pushes from no longer matches it.
    images = signed_bundle["bundle"] / "images"
    assert (images / "index.json").is_file()
    index = json.loads((images / "index.json").read_text())
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "3" * 64,
            "size": 1,
            "annotations": {"org.opencontainers.image.ref.name": "quay.io/evil/miner:1"},
        }
    )
    (images / "index.json").write_text(json.dumps(index))
    assert_refused(
        offline(tmp_path, run_playbook, "preload.yml", bundle_vars, signed_bundle["public"]),
        "the images of the bundle do not match it",
        "images/index.json names quay.io/evil/miner:1",
    )
