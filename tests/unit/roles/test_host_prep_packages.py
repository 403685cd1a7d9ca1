"""host_prep asks only for what a stock Debian 12 image has; the test hosts' image is stock.

Review finding B6: host_prep required `iptables`, which is Priority: optional on Debian 12
and absent from minimal installs, so the hosts stage stopped on them; the lab and Molecule
never saw it because their base image was built with everything the roles want. k3s brings
its own iptables: k3s-root packs iptables/ip6tables (with iptables-detect.sh), ipset,
conntrack, ethtool, socat, ip and friends into the k3s binary's data dir, bin/aux
(k3s-io/k3s-root scripts/package), and k3s's docs say to uninstall the distribution's
iptables or use --prefer-bundled-bin to run its own (k3s-io/docs
docs/known-issues/known-issues.md, "Iptables"). k3s's requirements list no package
(docs/installation/requirements.md).
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PACKAGE_LIST = REPO / "scripts" / "base-image-packages.txt"
BUILD_SCRIPT = REPO / "scripts" / "build-base-image"
HOST_PREP = REPO / "roles" / "host_prep"
WHY = {"important", "cloud", "ansible"}
# What the roles or k3s use that a stock image may lack: never in the base image.
NOT_STOCK = {
    "iptables",
    "nftables",
    "ipset",
    "conntrack",
    "ethtool",
    "socat",
    "docker-registry",
    "skopeo",
    "python3-apt",
}


def base_image_packages():
    entries = {}
    for raw in PACKAGE_LIST.read_text().splitlines():
        line = raw.split("#", 1)[0].split()
        if not line:
            continue
        assert len(line) == 2, f"{PACKAGE_LIST.name}: '{raw}' must be '<package> <why>'"
        entries[line[0]] = line[1]
    return entries


def test_the_list_says_which_image_it_mirrors():
    text = PACKAGE_LIST.read_text()
    assert "genericcloud" in text and "debian-cloud-images" in text and "minbase" in text


def test_every_package_says_why_it_is_there():
    entries = base_image_packages()
    assert entries, "empty package list"
    assert set(entries.values()) <= WHY


def test_the_base_image_holds_nothing_the_roles_want():
    assert not set(base_image_packages()) & NOT_STOCK


def test_host_prep_requires_only_packages_of_the_stock_image():
    required = yaml.safe_load((HOST_PREP / "defaults" / "main.yml").read_text())["host_prep_packages"]
    missing = sorted(set(required) - set(base_image_packages()))
    assert not missing, f"host_prep requires {missing}, which a stock Debian 12 image does not have"
    assert "iptables" not in required


def test_argument_spec_default_matches():
    defaults = yaml.safe_load((HOST_PREP / "defaults" / "main.yml").read_text())["host_prep_packages"]
    spec = yaml.safe_load((HOST_PREP / "meta" / "argument_specs.yml").read_text())
    assert spec["argument_specs"]["main"]["options"]["host_prep_packages"]["default"] == defaults


def test_the_build_script_reads_the_list():
    script = BUILD_SCRIPT.read_text()
    assert "base-image-packages.txt" in script
    assert not re.search(r"^PACKAGES=\"[a-z]", script, re.MULTILINE), "the package list is hard-coded again"


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="apt-cache absent: priorities cannot be read here")
def test_important_means_priority_important_on_this_debian():
    for name, why in base_image_packages().items():
        if why != "important":
            continue
        shown = subprocess.run(["apt-cache", "show", name], capture_output=True, text=True, check=False).stdout
        priorities = set(re.findall(r"^Priority: (\S+)", shown, re.MULTILINE))
        if not priorities:
            pytest.skip(f"apt-cache knows no {name}: not a Debian machine")
        assert priorities & {"required", "important"}, f"{name} is {priorities}, not important"


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="apt-cache absent: priorities cannot be read here")
def test_iptables_is_optional_on_this_debian():
    """The premise of the finding, checked where apt-cache can tell."""
    shown = subprocess.run(["apt-cache", "show", "iptables"], capture_output=True, text=True, check=False).stdout
    if "Priority:" not in shown:
        pytest.skip("apt-cache knows no iptables")
    assert set(re.findall(r"^Priority: (\S+)", shown, re.MULTILINE)) == {"optional"}
