"""Which join credential each node holds (issue 18 item 4, security review H2).

The k3s role's real token tasks (tasks/token.yml) and its real config.yaml template run through
ansible-playbook for three servers and an agent that are all `connection: local`: no host is
contacted. Each node's k3s data folder is a temporary folder; a "running cluster" is a test
double of the files k3s keeps there (server/token, server/agent-token).

k3s flags (k3s-io/k3s pkg/cli/cmds/server.go: `--token-file`, `--agent-token-file` "Shared secret
used to join agents to the cluster, but not servers"; pkg/cli/cmds/agent.go: `--token-file`).
"""

import yaml
from contract_paths import CONTRACT_PATHS
from k3s_local import HOSTS, K3S, node_play, run_play

PLAY = node_play(
    "Generate the tokens and render each node's k3s config.yaml",
    before=f"""    - name: The role's token tasks
      ansible.builtin.include_tasks: {K3S / "tasks/token.yml"}
""",
)


def render(tmp_path, ansible_env):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    for host in HOSTS:
        (tmp_path / "data" / host).mkdir(parents=True, exist_ok=True)
    variables = {
        "out": str(out),
        "k3s_config_dir": "/etc/rancher/k3s",
        "k3s_data_dir": str(tmp_path / "data") + "/{{ inventory_hostname }}",
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        **CONTRACT_PATHS,
        "gauntlet_versions": {"k3s": "v1.36.4+k3s1"},
    }
    result = run_play(tmp_path, ansible_env(tmp_path), PLAY, variables)
    configs = {}
    if result.returncode == 0:
        configs = {host: yaml.safe_load((out / f"{host}.yaml").read_text()) for host in HOSTS}
    return result, configs


def running_cluster(tmp_path, server_token, agent_token=None):
    """Test double of a running cluster's data: what k3s writes under <data-dir>/server."""
    for host in ("s1", "s2", "s3"):
        folder = tmp_path / "data" / host / "server"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(f"K10{'0' * 64}::server:{server_token}\n")
        agent = folder / "agent-token"
        if agent_token is None:
            # docs.k3s.io/cli/token, "Agent": without an agent token the file links to the server token.
            agent.symlink_to("token")
        else:
            agent.write_text(f"K10{'0' * 64}::node:{agent_token}\n")


def test_a_new_cluster_gives_agents_only_the_agent_token(tmp_path, ansible_env):
    result, configs = render(tmp_path, ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    server_token = (tmp_path / "credentials/k3s-token").read_text().strip()
    agent_token_file = tmp_path / "credentials/k3s-agent-token"
    agent_token = agent_token_file.read_text().strip()
    assert len(agent_token) == 48 and agent_token != server_token
    assert agent_token_file.stat().st_mode & 0o777 == 0o600
    agent = configs["a1"]
    # The agent joins with the agent token file and nothing else: no server token, no path to it.
    assert agent["token-file"] == "/etc/rancher/k3s/agent-token"
    assert not {"token", "agent-token", "agent-token-file"} & set(agent)
    assert "/etc/rancher/k3s/cluster-token" not in yaml.safe_dump(agent)
    for server in ("s1", "s2", "s3"):
        assert configs[server]["token-file"] == "/etc/rancher/k3s/cluster-token", server
        assert configs[server]["agent-token-file"] == agent["token-file"], server
        assert configs[server]["token-file"] != agent["token-file"], server
    # Neither secret reaches the output.
    assert server_token not in result.stdout and agent_token not in result.stdout


def test_the_agent_token_is_generated_once(tmp_path, ansible_env):
    first, _unused = render(tmp_path, ansible_env)
    assert first.returncode == 0, first.stdout + first.stderr
    token = (tmp_path / "credentials/k3s-agent-token").read_text()
    # The first server now runs with it: k3s keeps it in <data-dir>/server/agent-token.
    running_cluster(tmp_path, (tmp_path / "credentials/k3s-token").read_text().strip(), token.strip())
    again, configs = render(tmp_path, ansible_env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (tmp_path / "credentials/k3s-agent-token").read_text() == token
    assert configs["a1"]["token-file"] == "/etc/rancher/k3s/agent-token"


def test_a_cluster_built_without_an_agent_token_keeps_its_layout_and_says_so(tmp_path, ansible_env):
    # Servers that run without --agent-token: adding it would rewrite server/cred/passwd on disk
    # only, and k3s then refuses to restart ("passwd newer than datastore", docs/k3s.md).
    (tmp_path / "credentials").mkdir(mode=0o700)
    (tmp_path / "credentials/k3s-token").write_text("s" * 48 + "\n")
    (tmp_path / "credentials/k3s-token").chmod(0o600)
    running_cluster(tmp_path, "s" * 48)
    result, configs = render(tmp_path, ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "credentials/k3s-agent-token").exists()
    assert configs["a1"]["token-file"] == "/etc/rancher/k3s/cluster-token"
    assert all("agent-token-file" not in configs[server] for server in ("s1", "s2", "s3"))
    assert "agents of this cluster hold the server token" in result.stdout, result.stdout
    assert "docs/k3s.md" in result.stdout


def test_an_agent_token_the_servers_do_not_hold_stops_every_host(tmp_path, ansible_env):
    (tmp_path / "credentials").mkdir(mode=0o700)
    for name, value in (("k3s-token", "s" * 48), ("k3s-agent-token", "a" * 48)):
        (tmp_path / "credentials" / name).write_text(value + "\n")
        (tmp_path / "credentials" / name).chmod(0o600)
    running_cluster(tmp_path, "s" * 48)  # built without an agent token: server/agent-token links to token
    result, _unused = render(tmp_path, ansible_env)
    assert result.returncode != 0
    assert "k3s-agent-token does not match" in result.stdout, result.stdout
    assert "s1, s2, s3" in result.stdout
    assert "a" * 48 not in result.stdout and "s" * 48 not in result.stdout
