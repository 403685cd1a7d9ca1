"""A site's inventory holds its own choices; the collection brings the pins and contracts (issue 16 item 2).

The pinned versions, bundle files, images and the names the roles agree on are role gauntlet's
defaults (roles/gauntlet/defaults/main/), which every play lists below the inventory. A site
makes its inventory as the README says, a copy of inventory/sample/, here outside the
checkout: it validates and renders what the sample renders, its plays see the collection's
values, and a value the site sets wins over the collection's. Every run is in a
loopback-only network namespace (tests/loopback_netns.py) and contacts no host.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import loopback_netns
import yaml
from collection_defaults import collection_defaults, pinned_versions
from resolved_vars import VARS_PLAYBOOK

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "inventory" / "sample"


def site_copy(tmp_path: Path) -> Path:
    """inventory/sample copied to tmp_path/site, as a site starts its inventory."""
    site = tmp_path / "site"
    shutil.copytree(SAMPLE, site)
    return site


def run(tmp_path: Path, inventory: Path, playbook: Path, *args: str) -> subprocess.CompletedProcess:
    loopback_netns.require()
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    env["ANSIBLE_CACHE_PLUGIN_CONNECTION"] = str(tmp_path / "facts")
    command = ["ansible-playbook", "-i", str(inventory), str(playbook), *args]
    return subprocess.run(
        loopback_netns.isolated(command), cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300
    )


def render_k3s_objects(tmp_path: Path, inventory: Path, out: Path) -> dict:
    """The k3s stage's cluster objects (CoreDNS's and Traefik's, the ingress host policy built
    from the contracts) rendered from `inventory`: {relative path: bytes}."""
    result = run(
        tmp_path, inventory, REPO / "playbooks" / "k3s.yml", "--tags", "coredns_custom,traefik",
        "-e", json.dumps({"gauntlet_render_dir": str(out), "gauntlet_credentials_dir": str(tmp_path / "credentials")}),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "UNREACHABLE" not in result.stdout
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.yaml"))}


def resolved(tmp_path: Path, inventory: Path, names: list[str]) -> dict:
    """`names` as the first k3s server's plays see them, templated by Ansible."""
    playbook = tmp_path / "vars.yml"
    playbook.write_text(VARS_PLAYBOOK)
    dest = tmp_path / "vars.json"
    extra = {"__names": names, "__dest": str(dest), "__host": "k3s_servers[0]"}
    result = run(tmp_path, inventory, playbook, "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads(dest.read_text())


def test_the_sample_holds_no_pin_and_a_copy_outside_the_checkout_renders_what_it_renders(tmp_path):
    assert not (SAMPLE / "group_vars" / "all" / "versions.yml").exists()
    site = site_copy(tmp_path)
    # Validation runs first (tag always) in both: the copy validates with no pin of its own.
    from_sample = render_k3s_objects(tmp_path, SAMPLE, tmp_path / "render-sample")
    from_site = render_k3s_objects(tmp_path, site, tmp_path / "render-site")
    assert len(from_sample) == 5
    assert from_site == from_sample


def test_a_sites_own_pin_and_name_win_over_the_collections(tmp_path):
    site = site_copy(tmp_path)
    (site / "group_vars" / "all" / "versions.yml").write_text(
        yaml.safe_dump({"gauntlet_version_overrides": {"k3s": "v1.36.5+k3s1"}})
    )
    platform = yaml.safe_load((site / "group_vars" / "all" / "platform.yml").read_text())
    platform["gauntlet_keycloak_realm"] = "acme"
    (site / "group_vars" / "all" / "platform.yml").write_text(yaml.safe_dump(platform))
    names = ["gauntlet_versions", "gauntlet_k3s_bundle_files", "gauntlet_oidc_issuer", "gauntlet_namespaces"]
    values = resolved(tmp_path, site, names)
    # The one pin the site names is its own; every other component follows the collection.
    assert values["gauntlet_versions"] == {**pinned_versions(), "k3s": "v1.36.5+k3s1"}
    assert values["gauntlet_k3s_bundle_files"][0]["name"] == "k3s/v1.36.5+k3s1/k3s"
    # A contract the site sets wins too; what derives from it follows.
    assert values["gauntlet_oidc_issuer"] == "https://keycloak.local/realms/acme"
    assert values["gauntlet_namespaces"] == collection_defaults()["gauntlet_namespaces"]
