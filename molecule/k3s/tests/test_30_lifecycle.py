"""Reboot of an agent, rolling upgrade, reset: run last, in this order."""

import time

import testinfra
from k3s_scenario import AGENTS, CREDENTIALS, SERVERS, VERSION, ansible_playbook, calls, starts

NEW_VERSION = "v1.36.5+k3s1"  # the second version in the scenario's fake bundle


def host(name):
    return testinfra.get_host(f"podman://{name}")


def test_agent_reboot_starts_the_agent_without_server_args():
    import subprocess

    agent = host("k3s-agent-1")
    before = len(starts(agent))
    subprocess.run(["podman", "restart", "--time", "5", "k3s-agent-1"], check=True, capture_output=True)
    for _unused in range(60):
        if agent.run("systemctl is-active k3s-agent").stdout.strip() == "active":
            break
        time.sleep(1)
    assert agent.service("k3s-agent").is_running
    after = starts(agent)
    assert len(after) == before + 1
    assert after[-1]["argv"] == ["/usr/local/bin/k3s", "agent"]
    assert not {"cluster-init", "secrets-encryption", "kube-apiserver-arg"} & set(after[-1]["config"])
    assert not agent.file("/etc/systemd/system/k3s.service").exists


def test_an_agent_set_up_by_the_old_layout_loses_the_server_token():
    """Before issue 18 agents held the server token in cluster-token; a rerun removes it."""
    agent = host("k3s-agent-1")
    server_token = (CREDENTIALS / "k3s-token").read_text().strip()
    agent.check_output(f"sh -c \"umask 077; printf '%s\\n' {server_token} > /etc/rancher/k3s/cluster-token\"")
    assert agent.file("/etc/rancher/k3s/cluster-token").exists
    result = ansible_playbook("k3s.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert not agent.file("/etc/rancher/k3s/cluster-token").exists
    assert agent.service("k3s-agent").is_running


def test_rolling_upgrade_servers_one_at_a_time_then_agents():
    marks = {name: len(calls(host(name))) for name in SERVERS + AGENTS}
    result = ansible_playbook("upgrade.yml", "-e", f"k3s_version={NEW_VERSION}", "-e", "gauntlet_upgrade_drain=true")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    restart = {}
    for name in SERVERS + AGENTS:
        node = host(name)
        assert NEW_VERSION in node.check_output("/usr/local/bin/k3s --version")
        new_starts = [c for c in calls(node)[marks[name] :] if c["argv"][1:2] in (["server"], ["agent"])]
        assert len(new_starts) == 1, f"{name} restarted {len(new_starts)} times"
        restart[name] = new_starts[0]["time"]
    assert restart["k3s-server-1"] < restart["k3s-server-2"] < restart["k3s-server-3"] < restart["k3s-agent-1"]
    # Drain and uncordon ran on the first server, in node order.
    kubectl = [
        c["argv"][2:4] for c in calls(host("k3s-server-1"))[marks["k3s-server-1"] :] if c["argv"][1:2] == ["kubectl"]
    ]
    drains = [args[1] for args in kubectl if args[0] == "drain"]
    assert drains == SERVERS + AGENTS
    assert [args[1] for args in kubectl if args[0] == "uncordon"] == SERVERS + AGENTS
    assert VERSION != NEW_VERSION


def test_a_downgrade_is_refused_before_any_node_changes():
    """Issue 17 item 3: back to the pinned (older) version is refused; the guard only read each
    node's `k3s --version` over SSH, nothing else ran on any node."""
    marks = {name: len(calls(host(name))) for name in SERVERS + AGENTS}
    result = ansible_playbook("upgrade.yml", "-e", f"k3s_version={VERSION}")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out[-3000:]
    assert f"k3s-server-1: {NEW_VERSION} -> {VERSION} (downgrade)" in out
    assert f"Upgrade to k3s {VERSION} refused, no node was touched" in out
    assert "k3s_upgrade_allow_downgrade=true" in out
    for name in SERVERS + AGENTS:
        node = host(name)
        assert [c["argv"][1:] for c in calls(node)[marks[name] :]] == [["--version"]], name
        assert NEW_VERSION in node.check_output("/usr/local/bin/k3s --version")


def test_reset_removes_k3s_and_keeps_registry_data():
    registry = host("k3s-server-1")  # also the registry host in this scenario
    registry.run("mkdir -p /var/lib/docker-registry && touch /var/lib/docker-registry/keep-me")
    result = ansible_playbook("reset.yml", "-e", "gauntlet_reset_confirm=true")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for name in SERVERS + AGENTS:
        node = host(name)
        for path in [
            "/usr/local/bin/k3s",
            "/etc/systemd/system/k3s.service",
            "/etc/systemd/system/k3s-agent.service",
            "/etc/rancher/k3s",
            "/var/lib/rancher/k3s",
        ]:
            assert not node.file(path).exists, f"{name}: {path} is still there"
        assert node.run("systemctl is-active k3s k3s-agent").stdout.split() == ["inactive", "inactive"]
    assert registry.file("/var/lib/docker-registry/keep-me").exists
    assert not (CREDENTIALS / "kubeconfig.yaml").exists()
    assert (CREDENTIALS / "k3s-token").exists()


def test_reset_refuses_without_confirmation():
    result = ansible_playbook("reset.yml")
    assert result.returncode != 0
    assert "set k3s_reset_confirm=true" in result.stdout
