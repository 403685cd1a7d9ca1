"""Differential bundles end to end (issue 17 item 9), against Debian's real docker-registry.

Upstream is a loopback HTTP server for the files and a registry holding OCI images built by the
fixtures (deterministic tar layers, shared base layer, a two-platform index). The real
playbooks/bundle.yml builds a base bundle; then one image is retagged with one new layer
(docker.io/gauntlet/app:2 -> :3), one file changes and one is added, and bundle.yml runs again
with gauntlet_bundle_since=<copy of the base lock>. The delta must hold exactly the new
layer, config and manifest and the two files; preloading base then delta must give the registry
the same digests as preloading the full new bundle; a delta preloaded into an empty registry is
refused before anything is pushed; the k3s stage reads an uncarried file from
gauntlet_bundle_base_dir and refuses another bundle there; bundle-diff.yml lists exactly the change.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import signature as bundle_signature
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle.file import BundleFileError, bundle_file_path
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_transfer import target_for
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.modules import image_preload
from needs import missing
from oci_images import Layer, TestImages
from one_file_bundle import QuietHandler, varfile

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
K3S = REPO / "roles" / "k3s"
VERSION = "v9.9.9+k3s1"
BINARY = f"k3s/{VERSION}/k3s"
AIRGAP = f"k3s/{VERSION}/k3s-airgap-images-amd64.tar.zst"
ADDED = "demo/added.yaml"
OLD_APP, NEW_APP = "docker.io/gauntlet/app:2", "docker.io/gauntlet/app:3"
BASE_IMAGES = ["quay.io/gauntlet/base:1", OLD_APP, "ghcr.io/gauntlet/multi:3"]
NEW_IMAGES = ["quay.io/gauntlet/base:1", NEW_APP, "ghcr.io/gauntlet/multi:3"]


def run_module(module, args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def world(registry_factory, tmp_path, run_playbook):
    """The base bundle built, then upstream changed and the delta built; returns what the tests look at."""
    keygen = shutil.which("ssh-keygen")
    if not keygen:
        missing("ssh-keygen is not installed (Debian package openssh-client)")
    key = tmp_path / "signer"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", str(key)], check=True)
    # The images: TestImages' set plus app:3 = app:2's layers and one new layer.
    images = TestImages(layer_size=64 * 1024)
    images.layers["app3"] = Layer("app3", 64 * 1024)
    images.single(NEW_APP, ["base", "app2", "app3"])
    upstream = registry_factory()
    client = RegistryClient(upstream.host, plain_http=True)
    push_bundle(OciLayout(str(images.write_layout(tmp_path / "src"))), client)
    root = tmp_path / "upstream-files"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    bundle = tmp_path / "bundle"

    def build(files: dict, names: list, **extra):
        for name, data in files.items():
            (root / name.replace("/", "_")).write_bytes(data)
        variables = {
            "gauntlet_bundle_dir": str(bundle),
            "gauntlet_bundle_files": [
                {"name": n, "url": f"{url}/{n.replace('/', '_')}", "sha256": hashlib.sha256(d).hexdigest()}
                for n, d in files.items()
            ],
            "gauntlet_bundle_extra_images": [f"{upstream.host}/{n}" for n in names],
            "gauntlet_bundle_plain_http_registries": [upstream.host],
            "gauntlet_bundle_image_lists": [],
            "gauntlet_bundle_builds": [],
            "gauntlet_bundle_wheel_requirements": [],
            **extra,
        }
        result = run_playbook("bundle.yml", REPO / "inventory/sample", "-e", varfile(tmp_path, "bundle", variables))
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        return result

    try:
        base_files = {BINARY: b"#!/bin/sh\necho k3s " + b"b" * 4000, AIRGAP: b"airgap-v1" * 500}
        build(base_files, BASE_IMAGES)  # the base bundle (as it would be signed too: not needed here)
        # The controller's copy of the base bundle, and the base lock kept aside on the connected machine.
        controller_base = tmp_path / "controller" / "bundle-v1"
        shutil.copytree(bundle, controller_base)
        since = tmp_path / "bundle-v1.lock.json"
        shutil.copy(bundle / "bundle.lock.json", since)
        new_files = {**base_files, AIRGAP: b"airgap-v2" * 700, ADDED: b"kind: ConfigMap\n" * 10}
        run = build(new_files, NEW_IMAGES, gauntlet_bundle_since=str(since), gauntlet_bundle_signing_key=str(key))
    finally:
        server.shutdown()
        server.server_close()
    return {
        "images": images,
        "upstream": upstream,
        "bundle": bundle,
        "delta": tmp_path / "bundle-delta",
        "controller_base": controller_base,
        "since": since,
        "new_files": new_files,
        "run": run,
        "public_key": (tmp_path / "signer.pub").read_text().strip(),
    }


def test_delta_bundle_preload_k3s_stage_and_diff(world, registry_factory, capsys, tmp_path, ansible_env, run_playbook):
    """One build of base and delta (two bundle.yml runs) serves every check: the runs are the cost."""
    images, upstream, delta = world["images"], world["upstream"], world["delta"]
    name = f"{upstream.host}/{NEW_APP}"
    old_name = f"{upstream.host}/{OLD_APP}"
    manifest_digest = images.images[NEW_APP][0]
    manifest = json.loads(images.blobs[manifest_digest])
    new_layer = images.layers["app3"].digest
    expected_blobs = {
        manifest_digest: len(images.blobs[manifest_digest]),
        manifest["config"]["digest"]: manifest["config"]["size"],
        new_layer: len(images.layers["app3"].gz),
    }

    # -- what the delta holds: only the new manifest, config and layer, and the two new files
    lock = bundle_lock.load_lock(str(delta / "bundle.lock.json"), missing_ok=False)
    on_disk = {f"sha256:{p.name}": p.stat().st_size for p in (delta / "images/blobs/sha256").iterdir()}
    assert on_disk == expected_blobs
    assert {e.name: e.digest for e in OciLayout(str(delta / "images")).entries()} == {name: manifest_digest}
    files = sorted(str(p.relative_to(delta / "files")) for p in (delta / "files").rglob("*") if p.is_file())
    assert files == sorted([AIRGAP, ADDED])
    for file in files:
        assert (delta / "files" / file).read_bytes() == world["new_files"][file]
    report = world["run"].stdout
    assert "Differential bundle" in report and "2 file(s), 1 image(s) with" in report, report[-3000:]
    # The lock: complete, naming its base, marking what is carried.
    assert lock["base"] == {
        "name": "bundle-v1.lock.json",
        "path": str(world["since"]),
        "sha256": hashlib.sha256(world["since"].read_bytes()).hexdigest(),
    }
    assert {e["name"] for e in lock["images"]} == {f"{upstream.host}/{n}" for n in NEW_IMAGES}
    assert {e["name"]: e["carried"] for e in lock["images"]} == {
        f"{upstream.host}/{n}": n == NEW_APP for n in NEW_IMAGES
    }
    assert {e["name"]: e["carried"] for e in lock["files"]} == {BINARY: False, AIRGAP: True, ADDED: True}
    app = bundle_lock.get_image(lock, name)
    carried_blobs = {b["digest"] for b in app["blobs"] if b["carried"]}
    assert carried_blobs == {manifest["config"]["digest"], new_layer}
    assert {b["base_image"] for b in app["blobs"] if not b["carried"]} == {old_name}
    assert bundle_lock.image_size(app) == sum(images.layers[n].gz.__len__() for n in ("base", "app2", "app3")) + sum(
        expected_blobs[d] for d in (manifest_digest, manifest["config"]["digest"])
    )
    # The full bundle's lock lists the whole new state too, and the delta's lock is signed.
    full = bundle_lock.load_lock(str(world["bundle"] / "bundle.lock.json"), missing_ok=False)
    assert [e["digest"] for e in full["images"]] == [e["digest"] for e in lock["images"]]
    assert bundle_signature.verify(str(delta / "bundle.lock.json"), world["public_key"])

    # -- preload: a delta into an empty registry is refused before any push
    def preload(registry, src, lock_file=None):
        args = {"src": [str(src / "images")], "registry": registry.host, "plain_http": True}
        if lock_file:
            args["lock_file"] = str(lock_file)
        return run_module(image_preload, args, capsys)

    empty = registry_factory()
    refused = preload(empty, delta, delta / "bundle.lock.json")
    assert refused.get("failed") is True, refused
    assert "refusing to preload a differential bundle" in refused["msg"]
    assert (
        f"image {upstream.host}/quay.io/gauntlet/base:1 {images.images['quay.io/gauntlet/base:1'][0]}" in refused["msg"]
    )
    assert f"blob {images.layers['base'].digest} of {name} (from base image {old_name})" in refused["msg"]
    assert "bundle-v1.lock.json" in refused["msg"] and lock["base"]["sha256"] in refused["msg"]
    assert empty.catalog() == []

    # -- base then delta gives the registry what the full new bundle gives
    stepwise, whole = registry_factory(), registry_factory()
    assert preload(stepwise, world["controller_base"], world["controller_base"] / "bundle.lock.json")["changed"]
    pushed = preload(stepwise, delta, delta / "bundle.lock.json")
    assert pushed["changed"] is True, pushed
    assert pushed["bytes_pushed"] == expected_blobs[manifest["config"]["digest"]] + expected_blobs[new_layer]
    assert pushed["blobs_uploaded"] == 2
    assert preload(whole, world["bundle"], world["bundle"] / "bundle.lock.json")["changed"]
    for entry in lock["images"]:
        repo, ref = target_for(entry["name"], stepwise.host)
        assert stepwise.has_manifest(repo, entry["digest"])
        got = RegistryClient(stepwise.host, plain_http=True).manifest_digest(repo, ref)
        want = RegistryClient(whole.host, plain_http=True).manifest_digest(*target_for(entry["name"], whole.host))
        assert got[0] == want[0] == entry["digest"], entry["name"]
        for blob in entry["blobs"]:
            assert RegistryClient(stepwise.host, plain_http=True).blob_exists(repo, blob["digest"])
    again = preload(stepwise, delta, delta / "bundle.lock.json")
    assert again["changed"] is False and again["bytes_pushed"] == 0

    # -- files: read from the base bundle when the delta does not carry them
    base = world["controller_base"]
    assert bundle_file_path(str(delta), BINARY, str(base)) == str(base / "files" / BINARY)
    assert bundle_file_path(str(delta), AIRGAP, str(base)) == str(delta / "files" / AIRGAP)
    with pytest.raises(BundleFileError, match="set gauntlet_bundle_base_dir"):
        bundle_file_path(str(delta), BINARY)
    with pytest.raises(BundleFileError, match="is not this delta's base"):
        bundle_file_path(str(delta), BINARY, str(world["bundle"]))

    # -- the k3s stage's bundle check and install sources, with the role's own task file: a good
    # base, another bundle as base, and none (one ansible-playbook run; each refusal is rescued)
    def attempt(label, base_dir, after):
        return f"""
    - name: With {label} as base
      vars:
        gauntlet_bundle_base_dir: "{base_dir}"
      block:
        - name: The role's bundle check ({label})
          ansible.builtin.import_tasks: {K3S / "tasks/bundle.yml"}
{after}
      rescue:
        - name: What stopped it ({label})
          ansible.builtin.debug:
            msg: "REFUSED {label}: {{{{ ansible_failed_result.msg }}}}"
"""

    sources = """        - name: Where the install takes each file from
          ansible.builtin.debug:
            msg: "FROM {{ __k3s_bundle_check.paths[__k3s_bundle_names[0]] }} AND {{ __k3s_bundle_check.paths[__k3s_bundle_names[1]] }}"
"""
    play = tmp_path / "k3s-bundle.yml"
    play.write_text(
        f"""---
- name: The k3s stage's bundle check on the controller
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {K3S / "defaults/main.yml"}
    - {K3S / "vars/main.yml"}
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The role's architecture step, which decides each node's bundle files (amd64 here)
      ansible.builtin.import_tasks: {K3S / "tasks/arch.yml"}"""
        + attempt("good", base, sources)
        + attempt("wrong", world["bundle"], "")
        + attempt("unset", "", "")
    )
    variables = {
        "k3s_version": VERSION,
        "k3s_bundle_dir": str(delta),
        "gauntlet_k3s_arch_assets": yaml.safe_load((REPO / "roles/gauntlet/defaults/main/versions.yml").read_text())[
            "gauntlet_k3s_arch_assets"
        ],
    }
    k3s = subprocess.run(
        ["ansible-playbook", str(play), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=120,
    )  # fmt: skip
    assert k3s.returncode == 0, k3s.stdout[-3000:]
    assert f"FROM {base}/files/{BINARY} AND {delta}/files/{AIRGAP}" in k3s.stdout, k3s.stdout[-3000:]
    assert "REFUSED good" not in k3s.stdout
    wrong = k3s.stdout.split("REFUSED wrong: ", 1)[1]
    # The lookup's own words (bundle_file_path above): one decision, one message.
    assert wrong.startswith(
        f"k3s bundle {delta}: {BINARY} is not in {delta}: the base bundle {world['bundle']} is not this delta's base"
    )
    unset = k3s.stdout.split("REFUSED unset: ", 1)[1]
    assert (
        unset.startswith(f"k3s bundle {delta}: {BINARY} is not in {delta}: ")
        and "set gauntlet_bundle_base_dir" in unset
    )

    diff_report_lists_exactly_the_change(world, run_playbook, tmp_path)


def diff_report_lists_exactly_the_change(world, run_playbook, tmp_path):
    host = world["upstream"].host
    out = tmp_path / "diff.json"
    result = run_playbook(
        "bundle-diff.yml",
        REPO / "inventory/sample",
        "-e",
        varfile(
            tmp_path,
            "diff",
            {"old": str(world["since"]), "new": str(world["bundle"] / "bundle.lock.json"), "json": str(out)},
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    diff = json.loads(out.read_text())
    images = diff["images"]
    assert (images["added"], images["removed"], images["unchanged"]) == ([], [], 2)
    [change] = images["changed"]
    assert change["name"] == f"{host}/{NEW_APP}"
    assert (change["old"]["tag"], change["new"]["tag"]) == ("2", "3")
    images_ = world["images"]
    assert (change["old"]["digest"], change["new"]["digest"]) == (
        images_.images[OLD_APP][0],
        images_.images[NEW_APP][0],
    )
    new_manifest = json.loads(images_.blobs[images_.images[NEW_APP][0]])
    assert change["new"]["new_bytes"] == len(images_.blobs[images_.images[NEW_APP][0]]) + new_manifest["config"][
        "size"
    ] + len(images_.layers["app3"].gz)
    assert change["new"]["size"] - change["old"]["size"] > len(images_.layers["app3"].gz)
    files = diff["files"]
    assert [f["name"] for f in files["added"]] == [ADDED] and files["added"][0]["size"] == len(
        world["new_files"][ADDED]
    )
    assert [c["name"] for c in files["changed"]] == [AIRGAP]
    assert (files["changed"][0]["old"]["size"], files["changed"][0]["new"]["size"]) == (4500, 6300)
    assert (files["removed"], files["unchanged"]) == ([], 1)
    text = result.stdout
    assert "images: 0 added, 0 removed, 1 changed, 2 unchanged" in text
    assert f"~ {host}/docker.io/gauntlet/app 2 -> 3" in text
    assert f"+ {ADDED}" in text and f"~ {AIRGAP}" in text
    assert "files: 1 added, 0 removed, 1 changed, 1 unchanged" in text
