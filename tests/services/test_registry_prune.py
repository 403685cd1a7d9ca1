"""Registry prune against the real registry (Debian's docker-registry): the report, the deletes, then
the registry's own garbage collection (``docker-registry garbage-collect``) on the same storage."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.gauntlet.platform.plugins.module_utils.bundle import lock as bundle_lock
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.modules import registry_prune

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

MULTI = "ghcr.io/gauntlet/multi:3"
BASE = "quay.io/gauntlet/base:1"
APP = "docker.io/gauntlet/app:2"


def run_module(args, capsys, check=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    with patch_module_args(args), pytest.raises(SystemExit):
        registry_prune.main()
    return json.loads(capsys.readouterr().out)


def role_report(report: dict, apply: bool) -> str:
    """The report roles/image_preload/tasks/prune.yml prints, rendered by Ansible from the module's result."""
    tasks = yaml.safe_load((ROOT / "roles/image_preload/tasks/prune.yml").read_text())
    msg = next(t for t in tasks if t["name"] == "prune | Show the report")["ansible.builtin.debug"]["msg"]
    variables = {"__image_preload_prune_report": report, "image_preload_prune_apply": apply}
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(msg))


def blob_files(reg) -> set[str]:
    return {p.parent.name for p in reg.storage.rglob("blobs/sha256/*/*/data")}


def write_lock(path, test_images, names) -> str:
    lock = {"version": 1, "files": [], "images": []}
    for name in names:
        digest, media_type = test_images.images[name]
        lock["images"].append({"name": name, "digest": digest, "media_type": media_type, "source": name})
    bundle_lock.write_lock(str(path), lock)
    return str(path)


def test_prune_reports_then_deletes_then_gc_frees_the_blobs(registry, test_images, tmp_path, capsys):
    client = RegistryClient(registry.host, **registry.client_kwargs())
    push_bundle(OciLayout(str(test_images.write_layout(tmp_path / "bundle"))), client)
    # The platform's own repository (the pipeline pushes there) is never pruned.
    own = tmp_path / "own"
    test_images.write_layout(own, names=[BASE])
    index = json.loads((own / "index.json").read_text())
    index["manifests"][0]["annotations"] = {
        "org.opencontainers.image.ref.name": "registry.local:5000/gauntlet/task-api:0.1.0"
    }
    (own / "index.json").write_text(json.dumps(index))
    push_bundle(OciLayout(str(own)), client, registry_name="registry.local:5000")
    lock = write_lock(tmp_path / "bundle.lock.json", test_images, [APP, BASE])  # the upgrade dropped MULTI
    args = {"lock_file": lock, "registry": registry.host, "plain_http": True, "registry_name": "registry.local:5000"}
    before = blob_files(registry)

    report = run_module(args, capsys, check=True)
    assert report["changed"] is True
    multi_digest = test_images.images[MULTI][0]
    tops = [i for i in report["delete"] if i["kind"] == "manifest"]
    assert [(i["repository"], i["digest"], i["tags"]) for i in tops] == [
        ("ghcr.io/gauntlet/multi", multi_digest, ["3"])
    ]
    children = json.loads(test_images.blobs[multi_digest])["manifests"]
    assert sorted(i["digest"] for i in report["delete"] if i["kind"] == "child manifest") == sorted(
        c["digest"] for c in children
    )
    assert "gauntlet/task-api" in report["kept_repositories"]
    # The role prints this report before anything is deleted (roles/image_preload/tasks/prune.yml).
    shown = role_report(report, apply=False)
    assert "Dry run, nothing deleted; would delete 1 manifest(s) and 2 child manifest(s) in 1 repositor" in shown
    assert "ghcr.io/gauntlet/multi:3" in shown and "gauntlet_prune_apply=true" in shown, shown
    assert registry.has_manifest("ghcr.io/gauntlet/multi", "3"), "check mode deleted something"

    done = run_module(args, capsys)
    assert done["changed"] is True and done["deleted"] == 3
    assert not registry.has_manifest("ghcr.io/gauntlet/multi", "3")
    assert registry.has_manifest("quay.io/gauntlet/base", "1")
    assert registry.has_manifest("docker.io/gauntlet/app", "2")
    assert registry.has_manifest("gauntlet/task-api", "0.1.0")
    assert run_module(args, capsys)["changed"] is False

    # The registry's garbage collection, dry run first, then for real, with the registry stopped.
    registry.stop()
    dry = subprocess.run(
        [registry.binary, "garbage-collect", "--dry-run", str(registry.config)],
        capture_output=True,
        text=True,
        check=True,
    )
    # The summary line roles/registry/tasks/gc.yml shows and decides "changed" on.
    gc_tasks = yaml.safe_load((ROOT / "roles/registry/tasks/gc.yml").read_text())
    changed_when = next(t for t in gc_tasks if t["name"] == "gc | Collect the garbage")["changed_when"]
    pattern = re.search(r"search\('([^']+)'\)", changed_when).group(1)
    summary = [line for line in dry.stdout.splitlines() if "blobs marked" in line]
    assert summary and re.search(pattern, summary[0]), dry.stdout[-500:]
    only_multi = {test_images.layers["amd64"].digest, test_images.layers["arm64"].digest}
    for digest in only_multi:
        assert digest[7:] in dry.stdout, dry.stdout[-2000:]
    assert blob_files(registry) == before
    subprocess.run([registry.binary, "garbage-collect", str(registry.config)], capture_output=True, check=True)
    after = blob_files(registry)
    assert {d[7:] for d in only_multi}.isdisjoint(after)
    assert test_images.layers["base"].digest[7:] in after  # shared with kept images
    registry.start()
    for name in (APP, BASE):
        registry.inspect_raw(name)  # the kept images still resolve, for a peer client too


def test_prune_refuses_on_a_registry_without_deletes(registry_factory, test_images, tmp_path, capsys):
    reg = registry_factory()
    client = RegistryClient(reg.host, **reg.client_kwargs())
    push_bundle(OciLayout(str(test_images.write_layout(tmp_path / "bundle"))), client)
    reg.stop()
    reg.config.write_text(reg.config.read_text().replace(", delete: {enabled: true}", ""))
    reg.start()
    lock = write_lock(tmp_path / "bundle.lock.json", test_images, [BASE])
    failed = run_module({"lock_file": lock, "registry": reg.host, "plain_http": True}, capsys)
    assert failed["failed"] is True
    assert "registry_delete_enabled: true" in failed["msg"], failed["msg"]
