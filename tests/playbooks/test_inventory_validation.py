"""Bad inventories stop site.yml in the validation play, before any host is touched.

The inventory's hosts are podman containers that do not exist: if any play ran on
them, the recap would list them as unreachable. No network traffic is involved.
"""

import json
import os
import shutil
import subprocess
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


# --- The controller must resolve the local domains (issue 11 item 4) ------------------------
#
# ansible-playbook runs in a private mount namespace where /etc/hosts is the test's file and
# /etc/nsswitch.conf says `hosts: files`: the controller's resolver is real (glibc through
# Python's getaddrinfo) and no DNS query leaves the machine.

SAMPLE_LINES = (
    "10.77.0.11 alertmanager.local argocd.local drone.local gitea.local grafana.local keycloak-admin.local keycloak.local "
    "linkerd.local prometheus.local tasks.local",
    "10.77.0.30 registry.local",
)


def run_with_hosts(tmp_path, ansible_env, hosts_text, playbook, inventory, *args):
    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "-rm", "true"], capture_output=True, check=False).returncode != 0:
        reason = "unshare -rm (util-linux, unprivileged user namespaces) is not available"
        if os.environ.get("GAUNTLET_REQUIRE_ALL") == "1":
            pytest.fail(f"GAUNTLET_REQUIRE_ALL=1 but {reason}")
        pytest.skip(reason)
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n" + hosts_text)
    nsswitch = tmp_path / "nsswitch.conf"
    real = Path("/etc/nsswitch.conf").read_text() if Path("/etc/nsswitch.conf").exists() else ""
    nsswitch.write_text(
        "".join(line for line in real.splitlines(True) if not line.startswith("hosts:")) + "hosts: files\n"
    )
    script = 'mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/nsswitch.conf && shift 2 && exec "$@"'
    command = ["ansible-playbook", str(REPO / "playbooks" / playbook), "-i", str(inventory), *args]
    return subprocess.run(
        [unshare, "-rm", "sh", "-c", script, "sh", str(hosts), str(nsswitch), *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
        check=False,
        timeout=300,
    )


def test_unresolved_local_domains_stop_site_before_any_host(tmp_path, ansible_env):
    # The sample's domains with local_domains_manage_controller: false; the controller's
    # hosts file knows none of them. Before the fix this passed validation and stopped in
    # the platform stage (Keycloak configuration), 30-40 minutes into a real run.
    inventory = write_inventory(tmp_path, **GOOD)
    result = run_with_hosts(tmp_path, ansible_env, "", "site.yml", inventory)
    assert_stopped_before_hosts(result, "the controller does not resolve the platform's local domains")
    out = result.stdout
    assert "keycloak.local -> nothing (wanted 10.77.0.11)" in out
    assert "registry.local -> nothing (wanted 10.77.0.30)" in out
    for line in SAMPLE_LINES:
        assert line in out, out
    assert "local_domains_manage_controller: true" in out


def test_local_domains_resolving_elsewhere_stop_site(tmp_path, ansible_env):
    inventory = write_inventory(tmp_path, **GOOD)
    stale = "10.77.0.99 keycloak.local gitea.local\n" + SAMPLE_LINES[1] + "\n"
    result = run_with_hosts(tmp_path, ansible_env, stale, "site.yml", inventory)
    assert_stopped_before_hosts(result, "keycloak.local -> 10.77.0.99 (wanted 10.77.0.11)")
    assert "gitea.local -> 10.77.0.99 (wanted 10.77.0.11)" in result.stdout
    assert "registry.local ->" not in result.stdout


@pytest.mark.parametrize(
    ("hosts_text", "extra"),
    [
        ("\n".join(SAMPLE_LINES) + "\n", []),
        ("", ["-e", "local_domains_manage_controller=true"]),
        ("", ["-e", "local_domains_controller_check=false"]),
        ("", ["-e", "gauntlet_render_dir=/tmp/gauntlet-render-not-written"]),
        ("", ["--skip-tags", "k3s,platform,verify"]),
        ("", ["--tags", "hosts"]),
    ],
    ids=["resolves", "hosts-stage-writes-it", "check-off", "render-mode", "lab-without-k3s", "hosts-stage-only"],
)
def test_controller_resolution_passes_or_is_not_needed(tmp_path, ansible_env, hosts_text, extra):
    # Validation passes and the run goes on to the hosts stage (whose podman hosts do not
    # exist, so it ends there, unreachable).
    inventory = write_inventory(tmp_path, **GOOD)
    result = run_with_hosts(tmp_path, ansible_env, hosts_text, "site.yml", inventory, *extra)
    assert "PLAY [Prepare the hosts]" in result.stdout, result.stdout + result.stderr
    assert "does not resolve" not in result.stdout


def test_platform_stage_checks_too(tmp_path, ansible_env):
    inventory = write_inventory(tmp_path, **GOOD)
    result = run_with_hosts(tmp_path, ansible_env, "", "platform.yml", inventory)
    assert_stopped_before_hosts(result, "the controller does not resolve the platform's local domains")


def test_stages_that_call_nothing_on_the_controller_do_not_check(tmp_path, ansible_env):
    inventory = write_inventory(tmp_path, **GOOD)
    result = run_with_hosts(tmp_path, ansible_env, "", "validate.yml", inventory)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Virtual addresses for HA (issue 11 item 15) ----------------------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"gauntlet_control_plane_address": "10.77.0.21"},
            "gauntlet_control_plane_address '10.77.0.21' is the address of host 'a1'",
        ),
        (
            {"gauntlet_ingress_address": "10.77.0.30"},
            "gauntlet_ingress_address '10.77.0.30' is the address of host 'r1', which is not a k3s node",
        ),
        (
            {"gauntlet_ingress_address": "10.77.0.255", "gauntlet_node_network": "10.77.0.0/24"},
            "gauntlet_ingress_address '10.77.0.255' is the broadcast address of gauntlet_node_network 10.77.0.0/24",
        ),
        (
            {"gauntlet_control_plane_address": "127.0.0.1"},
            "gauntlet_control_plane_address '127.0.0.1' is a loopback address",
        ),
    ],
    ids=["api-vip-is-an-agent", "ingress-on-registry-host", "ingress-broadcast", "api-loopback"],
)
def test_bad_virtual_addresses_stop_site(tmp_path, run_playbook, extra, message):
    inventory = write_inventory(tmp_path, **GOOD)
    assert_stopped_before_hosts(run_playbook("site.yml", inventory, "-e", json.dumps(extra)), message)


def test_good_virtual_addresses_pass_validation(tmp_path, run_playbook):
    extra = {
        "gauntlet_control_plane_address": "10.77.0.100",
        "gauntlet_ingress_address": "10.77.0.101",
        "gauntlet_node_network": "10.77.0.0/24",
    }
    result = run_playbook("validate.yml", write_inventory(tmp_path, **GOOD), "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout + result.stderr


# --- Node architectures (issue 17 item 12) --------------------------------------------------
def test_bad_architecture_and_missing_arm64_pin_stop_site(tmp_path, run_playbook):
    """One run, every problem listed: a uname-style architecture, and arm64 nodes without pinned k3s files."""
    inventory = write_inventory(
        tmp_path, **{**GOOD, "agents": [("a1", "10.77.0.21"), ("a2", "10.77.0.22"), ("a3", "10.77.0.23")]}
    )
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    agents = hosts["all"]["children"]["k3s_cluster"]["children"]["k3s_agents"]["hosts"]
    agents["a1"]["gauntlet_arch"] = "aarch64"
    agents["a2"]["gauntlet_arch"] = "arm64"
    agents["a3"]["gauntlet_arch"] = "arm64"
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    # A site whose own gauntlet_k3s_arch_assets has amd64 only (as before this item): no arm64 entry.
    assets = {
        "amd64": {
            "binary": "k3s",
            "airgap_images": "k3s-airgap-images-amd64.tar.zst",
            "checksums": "sha256sum-amd64.txt",
        }
    }
    result = run_playbook("site.yml", inventory, "-e", json.dumps({"gauntlet_k3s_arch_assets": assets}))
    assert_stopped_before_hosts(
        result,
        "host 'a1': gauntlet_arch is 'aarch64', not one of amd64, arm64 ('aarch64' is what uname -m prints; k3s calls it arm64)",
    )
    assert "gauntlet_k3s_arch_assets.arm64 is not set, but the cluster runs arm64 (hosts a2, a3)" in result.stdout
    assert "add the k3s release files of arm64" in result.stdout


# --- Once per run (issue 16 item 6) ----------------------------------------------------------
#
# site.yml imports every stage playbook and each imports validate.yml (so a stage run alone is
# validated too): a `--tags hosts,registry,preload` rerun ran the same validation six times,
# because validation is tagged `always`. The second and later imports of a run skip what the
# first one checked.


def task_states(stdout: str, task: str) -> list[str]:
    """The first word of each result line of every run of ``task`` ('ok', 'skipping', ...)."""
    states = []
    for block in stdout.split("TASK [")[1:]:
        if block.startswith(task):
            states += [
                line.split(":")[0].strip()
                for line in block.splitlines()[1:]
                if line.split(":")[0] in ("ok", "skipping", "changed", "fatal")
            ]
    return states


def test_validation_runs_once_per_run(tmp_path, ansible_env):
    inventory = write_inventory(tmp_path, **GOOD)
    validate = REPO / "playbooks" / "validate.yml"
    playbook = tmp_path / "stages.yml"
    playbook.write_text(
        "---\n" + "".join(f"- name: Stage {n}\n  ansible.builtin.import_playbook: {validate}\n" for n in range(3))
    )
    result = subprocess.run(
        ["ansible-playbook", str(playbook), "-i", str(inventory)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert task_states(result.stdout, "Check groups, variables") == ["ok", "skipping", "skipping"], result.stdout


# --- Settings the controller's plays cannot see (docs/inventory.md) --------------------------


def test_a_controller_role_setting_only_the_first_server_sees_is_a_warning(tmp_path, run_playbook):
    """traefik runs in a play on localhost, which reads group_vars/all: a value in
    group_vars/k3s_servers is not what it runs with. A warning; the run goes on."""
    inventory = write_inventory(tmp_path, **GOOD)
    (inventory / "group_vars" / "k3s_servers.yml").write_text("traefik_tls_secret_name: elsewhere\n")
    result = run_playbook("validate.yml", inventory)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "traefik_tls_secret_name (role traefik) is set for s1 but not so in group_vars/all" in out, out
    assert "k3s_servers.yml" in out, out


def test_settings_in_group_vars_all_give_no_such_warning(tmp_path, run_playbook):
    result = run_playbook("validate.yml", write_inventory(tmp_path, **GOOD))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "which reads group_vars/all only" not in result.stdout + result.stderr


# --- --limit and the controller's plays (issue 16 item 4) -------------------------------------


def test_a_limit_without_localhost_says_the_controller_plays_are_left_out(tmp_path, run_playbook):
    """--limit leaves out the implicit localhost, where the cluster objects, the platform and
    verify's checks run: a run limited to the first server no longer installs the platform, so
    validation says so (a warning: a run limited to a new node means to leave them out)."""
    inventory = write_inventory(tmp_path, **GOOD)
    result = run_playbook("validate.yml", inventory, "--limit", "s1")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "--limit s1 leaves out localhost" in out, out
    assert "add localhost to --limit" in out, out
    result = run_playbook("validate.yml", inventory, "--limit", "s1,localhost")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leaves out localhost" not in result.stdout + result.stderr


def test_a_path_made_of_inventory_dir_stops_the_run(tmp_path, run_playbook):
    """The controller's plays run on localhost, which has no inventory_dir: the sample's
    `{{ inventory_dir }}/credentials` stopped Molecule k3s's platform play ('inventory_dir' is
    undefined). An inventory copied from an older sample is refused before any host."""
    inventory = write_inventory(tmp_path, **GOOD)
    group_vars = inventory / "group_vars" / "all"
    group_vars.unlink()  # the sample's folder, linked: a copy of it with the old line instead
    shutil.copytree(REPO / "inventory" / "sample" / "group_vars" / "all", group_vars)
    platform = group_vars / "platform.yml"
    old = platform.read_text().replace("{{ gauntlet_inventory_dir }}/credentials", "{{ inventory_dir }}/credentials")
    platform.write_text(old)
    result = run_playbook("site.yml", inventory)
    assert_stopped_before_hosts(
        result, "gauntlet_credentials_dir = '{{ inventory_dir }}/credentials' uses inventory_dir"
    )
    assert "write {{ gauntlet_inventory_dir }} instead" in result.stdout
