"""Node architectures and the k3s files of each (module_utils/k3s/arch.py, filters k3s_arch.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.k3s_arch import k3s_arch, node_architectures
from ansible_collections.gauntlet.platform.plugins.module_utils.inventory.pins import architecture_problems
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.arch import (
    ArchError,
    asset_problems,
    bundle_files,
    node_arch,
)

REPO = Path(__file__).resolve().parents[4]
ASSETS = yaml.safe_load((REPO / "roles/gauntlet/defaults/main/versions.yml").read_text())["gauntlet_k3s_arch_assets"]
VERSION = "v1.36.4+k3s1"
BASE = "https://github.com/k3s-io/k3s/releases/download/v1.36.4%2Bk3s1"


@pytest.mark.parametrize(
    ("declared", "fact", "arch"),
    [(None, None, "amd64"), ("", "", "amd64"), (None, "x86_64", "amd64"), (None, "aarch64", "arm64"),
     ("arm64", None, "arm64"), ("arm64", "aarch64", "arm64"), ("amd64", "x86_64", "amd64")],
)  # fmt: skip
def test_a_node_architecture_comes_from_its_declaration_then_its_facts_then_amd64(declared, fact, arch):
    assert node_arch(declared, fact, "n1") == arch


@pytest.mark.parametrize(
    ("declared", "fact", "message"),
    [
        ("aarch64", None, "gauntlet_arch is 'aarch64', not one of amd64, arm64 ('aarch64' is what uname -m prints; k3s calls it arm64)"),
        ("x86_64", None, "('x86_64' is what uname -m prints; k3s calls it amd64)"),
        ("ARM64", None, "gauntlet_arch is 'ARM64', not one of amd64, arm64"),
        (64, None, "gauntlet_arch is 64, not one of amd64, arm64"),
        ("arm", None, "set it to amd64 or arm64, or remove it to use the host's facts"),
        (None, "s390x", "host n1 is 's390x' (ansible_architecture): k3s is installed here for amd64, arm64 only"),
        ("arm64", "x86_64", "host n1: gauntlet_arch is arm64 but the host is x86_64 (amd64); set gauntlet_arch: amd64"),
    ],
)  # fmt: skip
def test_a_wrong_architecture_says_what_to_set(declared, fact, message):
    with pytest.raises(ArchError) as error:
        node_arch(declared, fact, "n1")
    assert message in str(error.value)
    with pytest.raises(AnsibleFilterError):
        k3s_arch(declared, fact, "n1")


def test_node_architectures_groups_hosts_and_defaults_to_amd64():
    hostvars = {
        "s1": {"gauntlet_arch": "arm64"},
        "a1": {"ansible_facts": {"architecture": "aarch64"}},
        "a2": {"ansible_architecture": "x86_64"},
        "a3": {},
        "bad": {"gauntlet_arch": "aarch64"},
    }
    assert node_architectures(["s1", "a1", "a2", "a3"], hostvars) == {"amd64": ["a2", "a3"], "arm64": ["a1", "s1"]}
    assert node_architectures([], hostvars) == {"amd64": []}
    with pytest.raises(AnsibleFilterError, match="host bad: gauntlet_arch is 'aarch64'"):
        node_architectures(["s1", "bad"], hostvars)
    # Not strict (the inventory variable): the bad host is left out, validation names it.
    assert node_architectures(["s1", "bad"], hostvars, strict=False) == {"arm64": ["s1"]}


def test_the_sample_amd64_entries_are_the_ones_bundled_before_and_arm64_follows_upstream_names():
    entries = bundle_files(ASSETS, VERSION, ["amd64", "arm64"])
    assert entries == [
        {"name": f"k3s/{VERSION}/k3s", "url": f"{BASE}/k3s", "checksum_url": f"{BASE}/sha256sum-amd64.txt"},
        {
            "name": f"k3s/{VERSION}/k3s-airgap-images-amd64.tar.zst",
            "url": f"{BASE}/k3s-airgap-images-amd64.tar.zst",
            "checksum_url": f"{BASE}/sha256sum-amd64.txt",
        },
        {"name": f"k3s/{VERSION}/k3s-arm64", "url": f"{BASE}/k3s-arm64", "checksum_url": f"{BASE}/sha256sum-arm64.txt"},
        {
            "name": f"k3s/{VERSION}/k3s-airgap-images-arm64.tar.zst",
            "url": f"{BASE}/k3s-airgap-images-arm64.tar.zst",
            "checksum_url": f"{BASE}/sha256sum-arm64.txt",
        },
    ]
    assert asset_problems(ASSETS, {"amd64": ["s1"], "arm64": ["a1"]}) == []


def test_pinned_sha256s_are_used_instead_of_the_checksum_file():
    pinned = {
        "arm64": {
            "binary": "k3s-arm64",
            "airgap_images": "i.tar.zst",
            "binary_sha256": "a" * 64,
            "airgap_images_sha256": "b" * 64,
        }
    }
    assert [e.get("sha256") for e in bundle_files(pinned, VERSION, ["arm64"])] == ["a" * 64, "b" * 64]
    assert all("checksum_url" not in e for e in bundle_files(pinned, VERSION, ["arm64"]))
    assert asset_problems(pinned, ["arm64"]) == []


@pytest.mark.parametrize(
    ("arm64", "message"),
    [
        (None, "gauntlet_k3s_arch_assets.arm64 is not set, but the cluster runs arm64 (host a1): add the k3s release files of arm64"),
        ({"binary": "k3s-arm64", "airgap_images": "k3s-airgap-images-arm64.tar.zst"},
         "gauntlet_k3s_arch_assets.arm64 has no checksum pin (host a1): set gauntlet_k3s_arch_assets.arm64.checksums to the "
         "release's published checksum file (sha256sum-arm64.txt), or gauntlet_k3s_arch_assets.arm64.binary_sha256 and "
         "gauntlet_k3s_arch_assets.arm64.airgap_images_sha256"),
        ({"binary": "k3s-arm64", "airgap_images": "x.tar.zst", "binary_sha256": "a" * 64},
         "gauntlet_k3s_arch_assets.arm64 has no checksum pin"),
        ({"binary": "k3s-arm64", "airgap_images": "x.tar.zst", "checksums": "s.txt", "binary_sha256": "ABC"},
         "gauntlet_k3s_arch_assets.arm64.binary_sha256 is 'ABC', not 64 lower-case hex digits"),
        ({"binary": "../k3s", "airgap_images": "x.tar.zst", "checksums": "s.txt"},
         "gauntlet_k3s_arch_assets.arm64.binary is '../k3s': set the k3s release file name"),
    ],
    ids=["no-entry", "no-pin", "half-pinned", "bad-sha", "bad-name"],
)  # fmt: skip
def test_a_missing_arm64_pin_names_the_variable_and_nothing_unchecked_is_bundled(arm64, message):
    assets = {"amd64": ASSETS["amd64"], **({"arm64": arm64} if arm64 is not None else {})}
    problems = asset_problems(assets, {"amd64": ["s1"], "arm64": ["a1"]})
    assert len(problems) == 1 and message in problems[0], problems
    assert [e["name"] for e in bundle_files(assets, VERSION, ["amd64", "arm64"])] == [
        f"k3s/{VERSION}/k3s",
        f"k3s/{VERSION}/k3s-airgap-images-amd64.tar.zst",
    ]


def entry(value, origin="hosts.yml:9"):
    return {"value": value, "origin": origin}


def test_validation_reads_each_nodes_arch_and_the_table():
    assets = {"amd64": ASSETS["amd64"]}
    data = {
        "groups": {"k3s_servers": ["s1"], "k3s_agents": ["a1", "a2"]},
        "hosts": {
            "s1": {"gauntlet_k3s_arch_assets": entry(assets, "roles/gauntlet/defaults/main/versions.yml:64")},
            "a1": {"gauntlet_arch": entry("x86_64", "hosts.yml:12")},
            "a2": {"gauntlet_arch": entry("arm64", "hosts.yml:14")},
        },
    }
    problems = architecture_problems(data, "s1")
    assert problems == [
        "hosts.yml:12: host 'a1': gauntlet_arch is 'x86_64', not one of amd64, arm64 ('x86_64' is what uname -m prints; "
        "k3s calls it amd64): set it to amd64 or arm64, or remove it to use the host's facts",
        "gauntlet_k3s_arch_assets.arm64 is not set, but the cluster runs arm64 (host a2): add the k3s release files of "
        "arm64 (binary, airgap_images, and checksums or binary_sha256 + airgap_images_sha256) to "
        "gauntlet_k3s_arch_assets, as the collection's roles/gauntlet/defaults/main/versions.yml does "
        "(roles/gauntlet/defaults/main/versions.yml:64)",
    ]
    data["hosts"]["a1"]["gauntlet_arch"] = entry("amd64")
    data["hosts"]["s1"]["gauntlet_k3s_arch_assets"] = entry(ASSETS)
    assert architecture_problems(data, "s1") == []
