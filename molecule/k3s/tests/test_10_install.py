"""The k3s stage as installed by converge (with the k3s test double unless a real bundle is given)."""

import pwd

import pytest
import yaml
from k3s_scenario import (
    ADDRESS,
    AGENTS,
    CONTROLLER_USER,
    CREDENTIALS,
    EPHEMERAL,
    JOIN_URL,
    K3S_AGENT_FLAGS,
    K3S_SERVER_ONLY_FLAGS,
    OVERRIDES,
    SERVERS,
    VERSION,
    starts,
)

testinfra_hosts = [f"podman://{name}" for name in SERVERS + AGENTS]


def name_of(host):
    return host.backend.hostname


def config(host):
    return yaml.safe_load(host.file("/etc/rancher/k3s/config.yaml").content_string)


def test_binary_is_the_bundle_one(host):
    binary = host.file("/usr/local/bin/k3s")
    assert binary.mode == 0o755
    assert VERSION in host.check_output("/usr/local/bin/k3s --version")
    assert host.file("/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst").exists


def test_unit_of_the_right_kind_only(host):
    server = name_of(host) in SERVERS
    unit, other = ("k3s", "k3s-agent") if server else ("k3s-agent", "k3s")
    text = host.file(f"/etc/systemd/system/{unit}.service").content_string
    assert text.startswith("#")
    assert f"ExecStart=/usr/local/bin/k3s {'server' if server else 'agent'}\n" in text
    assert not host.file(f"/etc/systemd/system/{other}.service").exists
    assert host.service(unit).is_running and host.service(unit).is_enabled


def test_config_keys_are_k3s_flags_and_agents_get_no_server_flags(host):
    keys = set(config(host))
    if name_of(host) in SERVERS:
        assert keys <= K3S_AGENT_FLAGS | K3S_SERVER_ONLY_FLAGS, keys - K3S_AGENT_FLAGS - K3S_SERVER_ONLY_FLAGS
    else:
        assert keys <= K3S_AGENT_FLAGS, keys - K3S_AGENT_FLAGS
    assert host.file("/etc/rancher/k3s/config.yaml").mode == 0o600


def test_join_settings(host):
    cfg = config(host)
    name = name_of(host)
    assert cfg["node-name"] == name and cfg["node-ip"] == ADDRESS[name]
    if name in SERVERS:
        # k3s pkg/cli/cmds/server.go: --token-file (server token), --agent-token-file (joins agents only).
        assert cfg["token-file"] == "/etc/rancher/k3s/cluster-token"
        assert cfg["agent-token-file"] == "/etc/rancher/k3s/agent-token"
    else:
        # An agent holds only the agent token (security review H2): no path to the server token at all.
        assert cfg["token-file"] == "/etc/rancher/k3s/agent-token"
        assert not {"token", "agent-token", "agent-token-file"} & set(cfg)
        assert "cluster-token" not in host.file("/etc/rancher/k3s/config.yaml").content_string
    if name == "k3s-server-1":
        assert cfg["cluster-init"] is True and "server" not in cfg
    else:
        assert "cluster-init" not in cfg and cfg["server"] == JOIN_URL


def test_hardening_on_servers(host):
    if name_of(host) not in SERVERS:
        pytest.skip("server hardening")
    cfg = config(host)
    assert cfg["secrets-encryption"] is True and cfg["protect-kernel-defaults"] is True
    args = cfg["kube-apiserver-arg"]
    assert "admission-control-config-file=/var/lib/rancher/k3s/server/psa.yaml" in args
    assert {"audit-log-maxage=30", "audit-log-maxbackup=10", "audit-log-maxsize=100"} <= set(args)
    assert "enable-admission-plugins=NodeRestriction,EventRateLimit" in args
    assert "service-account-extend-token-expiration=false" in args
    psa = yaml.safe_load(host.file("/var/lib/rancher/k3s/server/psa.yaml").content_string)
    plugins = {plugin["name"]: plugin["configuration"] for plugin in psa["plugins"]}
    assert plugins["EventRateLimit"]["kind"] == "Configuration"
    pod_security = plugins["PodSecurity"]
    assert pod_security["defaults"]["enforce"] == "restricted"
    assert pod_security["exemptions"]["namespaces"] == ["kube-system"]
    audit = yaml.safe_load(host.file("/var/lib/rancher/k3s/server/audit.yaml").content_string)
    assert audit["kind"] == "Policy" and audit["rules"][-1] == {"level": "Metadata"}
    assert "streaming-connection-idle-timeout=5m" in cfg["kubelet-arg"]
    manifest = host.file("/var/lib/rancher/k3s/server/manifests/gauntlet-default-serviceaccounts.yaml")
    assert all(sa["automountServiceAccountToken"] is False for sa in yaml.safe_load_all(manifest.content_string))


def test_registries_yaml_on_every_node(host):
    registries = host.file("/etc/rancher/k3s/registries.yaml")
    assert registries.mode == 0o600
    assert yaml.safe_load(registries.content_string) == OVERRIDES["k3s_registries"]


def test_tokens_generated_once_and_private(host):
    tokens = {}
    for name in ("k3s-token", "k3s-agent-token"):
        local = CREDENTIALS / name
        assert local.stat().st_mode & 0o777 == 0o600, name
        assert pwd.getpwuid(local.stat().st_uid).pw_name == CONTROLLER_USER, name
        tokens[name] = local.read_text().strip()
        assert len(tokens[name]) == 48, name
    assert tokens["k3s-token"] != tokens["k3s-agent-token"]
    agent_token = host.file("/etc/rancher/k3s/agent-token")
    assert agent_token.mode == 0o600 and agent_token.content_string.strip() == tokens["k3s-agent-token"]
    server_token = host.file("/etc/rancher/k3s/cluster-token")
    if name_of(host) in SERVERS:
        assert server_token.mode == 0o600 and server_token.content_string.strip() == tokens["k3s-token"]
        stored = host.file("/var/lib/rancher/k3s/server/token").content_string.strip()
        assert stored.endswith(f"::server:{tokens['k3s-token']}")
        stored_agent = host.file("/var/lib/rancher/k3s/server/agent-token").content_string.strip()
        assert stored_agent.endswith(f"::node:{tokens['k3s-agent-token']}")
    else:
        # Root on an agent must not be able to join as a server: the server token is nowhere on it.
        assert not server_token.exists
        assert host.run(f"grep -rlF {tokens['k3s-token']} /etc/rancher /etc/default /etc/systemd/system").stdout == ""


def test_started_with_config_only(host):
    first = starts(host)[0]
    kind = "server" if name_of(host) in SERVERS else "agent"
    assert first["argv"] == ["/usr/local/bin/k3s", kind]
    assert "NOTIFY_SOCKET" in first["env"]


def test_join_order():
    """The first server starts first, the other servers one after another, the agents last."""
    import testinfra

    first = {name: starts(testinfra.get_host(f"podman://{name}"))[0]["time"] for name in SERVERS + AGENTS}
    assert first["k3s-server-1"] < first["k3s-server-2"] < first["k3s-server-3"] < first["k3s-agent-1"]


def test_every_node_ready_through_the_double():
    import json

    import testinfra

    nodes = json.loads(testinfra.get_host("podman://k3s-server-1").check_output("k3s kubectl get nodes -o json"))
    assert sorted(item["metadata"]["name"] for item in nodes["items"]) == sorted(SERVERS + AGENTS)


def test_kubeconfig_on_the_controller():
    kubeconfig = CREDENTIALS / "kubeconfig.yaml"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    # Written as the user who ran the playbook, never through sudo (review finding B1).
    assert pwd.getpwuid(kubeconfig.stat().st_uid).pw_name == CONTROLLER_USER
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == JOIN_URL


def test_cluster_objects_rendered():
    render = EPHEMERAL / "render"
    assert (render / "coredns-custom/00-configmap-kube-system-coredns-custom.yaml").exists()
    assert (render / "traefik/01-helmchartconfig-kube-system-traefik.yaml").exists()


def test_check_mode_reports_no_change():
    """A second run in --check --diff mode tells the truth: nothing to change."""
    import re

    from k3s_scenario import ansible_playbook

    result = ansible_playbook("k3s.yml", "--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    recap = re.findall(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)", plain, re.MULTILINE)
    assert recap and all(changed == "0" for _unused, changed in recap), recap
