"""Verify the `hosts` stage on the Molecule hosts, from outside, with testinfra.

Expected values come from the scenario's own files (molecule.yml addresses and the
sample group_vars), computed here independently of the role's filter.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parent.parent
REPO = SCENARIO.parent.parent
GROUP_VARS = REPO / "inventory" / "sample" / "group_vars" / "all"
ADDRESS = {
    path.stem: yaml.safe_load(path.read_text())["node_ip"] for path in sorted((SCENARIO / "host_vars").glob("*.yml"))
}
SERVICES = yaml.safe_load((GROUP_VARS / "domains.yml").read_text())["local_domains_services"]
HOST_PREP = yaml.safe_load((REPO / "roles" / "host_prep" / "defaults" / "main.yml").read_text())
INGRESS = ADDRESS["m-server-1"]
REGISTRY = ADDRESS["m-registry-1"]
BEGIN = "# BEGIN gauntlet local domains (managed by Ansible)"
END = "# END gauntlet local domains (managed by Ansible)"

# The podman backend talks to the containers directly: much faster than going through Ansible.
testinfra_hosts = [f"podman://{name}" for name in ADDRESS]


def expected_block():
    ingress = sorted(d for s, d in SERVICES.items() if s != "registry")
    return [BEGIN, f"{INGRESS} {' '.join(ingress)}", f"{REGISTRY} {SERVICES['registry']}", END]


def test_hosts_block_is_exact_and_single(host):
    lines = host.file("/etc/hosts").content_string.splitlines()
    assert lines.count(BEGIN) == 1 and lines.count(END) == 1
    start = lines.index(BEGIN)
    assert lines[start : start + 4] == expected_block()
    managed = [line for line in lines if line and not line.startswith("#")]
    assert len(managed) == len(set(managed)), "duplicate lines in /etc/hosts"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_domain_resolves_through_getent(host, service):
    result = host.run(f"getent ahostsv4 {SERVICES[service]}")
    assert result.rc == 0, result.stderr
    wanted = REGISTRY if service == "registry" else INGRESS
    assert result.stdout.split()[0] == wanted


def test_modules_persisted_and_available(host):
    persisted = host.file("/etc/modules-load.d/90-gauntlet-k3s.conf")
    assert persisted.mode == 0o644
    assert [line for line in persisted.content_string.splitlines() if not line.startswith("#")] == HOST_PREP[
        "host_prep_kernel_modules"
    ]
    # The modules are built into this machine's kernel: prove each is there.
    assert host.file("/proc/sys/net/bridge/bridge-nf-call-iptables").exists  # br_netfilter
    assert "overlay" in host.file("/proc/filesystems").content_string


def test_sysctl_persisted(host):
    persisted = host.file("/etc/sysctl.d/90-gauntlet-k3s.conf").content_string.splitlines()
    wanted = sorted(f"{key}={value}" for key, value in HOST_PREP["host_prep_sysctl"].items())
    assert [line for line in persisted if not line.startswith("#")] == wanted


def test_report_tells_the_truth_about_the_live_kernel(host):
    report = json.loads(host.file("/var/lib/gauntlet/host_prep.json").content_string)
    assert report["host_kind"] == "container"
    for key, value in HOST_PREP["host_prep_sysctl"].items():
        live = host.file("/proc/sys/" + key.replace(".", "/")).content_string.split()
        entry = report["sysctl"][key]
        assert entry["actual"] == " ".join(live)
        assert entry["ok"] == (entry["actual"] == str(value))
        assert (f"sysctl {key} is {entry['actual']}, wanted {value}" in report["mismatches"]) != entry["ok"]
    assert all(module["available"] for module in report["modules"].values())


def test_check_mode_reports_no_change():
    """A --check --diff run on the converged hosts must report changed=0 everywhere."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run this through `molecule verify`")
    run = subprocess.run(
        ["ansible-playbook", "-i", inventory, str(SCENARIO / "converge.yml"), "--check", "--diff"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    recap = run.stdout.split("PLAY RECAP", 1)[1]
    hosts = [line for line in recap.splitlines() if "changed=" in line]
    assert len(hosts) >= 3
    assert all(" changed=0 " in line for line in hosts), recap


def test_the_host_is_stock_and_host_prep_needed_nothing_more(host):
    """The image is a stock one (scripts/base-image-packages.txt): no iptables, and the
    hosts stage passed without installing anything (no local package source is set)."""
    assert not host.package("iptables").is_installed
    assert not host.file("/etc/apt/sources.list.d/gauntlet-local.list").exists
    for package in HOST_PREP["host_prep_packages"]:
        assert host.package(package).is_installed, package


def test_the_play_came_over_ssh_as_debian_and_became_root_through_sudo(host):
    """Reached like a VM: sshd accepted the run's key for `debian`, sudo ran Ansible's
    modules as root for it (the journal records both)."""
    sshd = host.run("journalctl --no-pager -o cat _COMM=sshd")
    assert "Accepted publickey for debian" in sshd.stdout
    assert "Accepted publickey for root" not in sshd.stdout
    sudo = host.run("journalctl --no-pager -o cat _COMM=sudo")
    assert any(
        line.lstrip().startswith("debian : ") and "USER=root" in line and "BECOME-SUCCESS" in line
        for line in sudo.stdout.splitlines()
    ), sudo.stdout[-2000:]
