"""Bad inventories stop site.yml in the validation play, before any host is touched.

The inventory's hosts are podman containers that do not exist: if any play ran on
them, the recap would list them as unreachable. No network traffic is involved.
"""

import os
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def write_inventory(tmp_path, servers, agents, registry):
    def hosts(pairs):
        return {name: {"node_ip": ip} for name, ip in pairs}

    inventory = {
        "all": {
            "vars": {"ansible_connection": "containers.podman.podman"},
            "children": {
                "k3s_cluster": {
                    "children": {"k3s_servers": {"hosts": hosts(servers)}, "k3s_agents": {"hosts": hosts(agents)}}
                },
            },
        }
    }
    if registry is not None:
        inventory["all"]["children"]["registry"] = {"hosts": hosts(registry)}
    folder = tmp_path / "inventory"
    (folder / "group_vars").mkdir(parents=True)
    (folder / "hosts.yml").write_text(yaml.safe_dump(inventory))
    # The real group_vars of the sample, plus the test's change to the domains.
    sample = REPO / "inventory" / "sample" / "group_vars" / "all"
    os.symlink(sample, folder / "group_vars" / "all")
    return folder


GOOD = {
    "servers": [("s1", "10.77.0.11")],
    "agents": [("a1", "10.77.0.21")],
    "registry": [("r1", "10.77.0.30")],
}


def assert_stopped_before_hosts(result, message):
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert message in out, out
    assert "nothing was changed" in out
    recap = result.stdout.split("PLAY RECAP", 1)[1]
    touched = [line.split()[0] for line in recap.splitlines() if "changed=" in line]
    assert touched == ["localhost"], recap
    assert "UNREACHABLE" not in out


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (
            {**GOOD, "agents": [("a1", "10.77.0.11")]},
            "hosts 'a1' and 's1' share the address 10.77.0.11: give each host its own node_ip",
        ),
        (
            {**GOOD, "servers": [("s1", "10.77.0.11"), ("s2", "10.77.0.12")]},
            "group 'k3s_servers': there are 2 k3s servers; embedded etcd needs 1 or an odd number >= 3",
        ),
        (
            {**GOOD, "registry": None},
            "group 'registry' is missing from the inventory: add it to hosts.yml",
        ),
        (
            {**GOOD, "agents": [("a1", "agent-1.example")]},
            "host 'a1': node_ip 'agent-1.example' is invalid (it is not an IPv4 address)",
        ),
    ],
    ids=["duplicate-ip", "two-servers", "no-registry", "not-an-ip"],
)
def test_bad_layout_stops_site(tmp_path, run_playbook, layout, message):
    inventory = write_inventory(tmp_path, **layout)
    assert_stopped_before_hosts(run_playbook("site.yml", inventory), message)


@pytest.mark.parametrize(
    ("domain", "why"),
    [("gitea_local", "underscores are not allowed"), ("-bad.local", "starts or ends with a hyphen")],
)
def test_bad_domain_stops_site(tmp_path, run_playbook, domain, why):
    domains = {"gitea": domain, "registry": "registry.local"}
    inventory = write_inventory(tmp_path, **GOOD)
    (inventory / "group_vars" / "all").unlink()
    (inventory / "group_vars" / "all").mkdir()
    sample = REPO / "inventory" / "sample" / "group_vars" / "all"
    for part in sample.iterdir():
        if part.name != "domains.yml":
            os.symlink(part, inventory / "group_vars" / "all" / part.name)
    (inventory / "group_vars" / "all" / "domains.yml").write_text(
        yaml.safe_dump({"local_domains_services": domains, "local_domains_direct": {}})
    )
    result = run_playbook("site.yml", inventory)
    assert_stopped_before_hosts(result, f"local_domains_services.gitea = '{domain}' is not a valid domain")
    assert why in result.stdout


def test_stage_playbooks_validate_too(tmp_path, run_playbook):
    inventory = write_inventory(tmp_path, **{**GOOD, "agents": [("a1", "10.77.0.11")]})
    assert_stopped_before_hosts(run_playbook("hosts.yml", inventory, "--tags", "local_domains"), "share the address")


def test_good_inventory_passes_validation(tmp_path, run_playbook):
    result = run_playbook("validate.yml", write_inventory(tmp_path, **GOOD))
    assert result.returncode == 0, result.stdout + result.stderr
