"""No upstream fallback (issue 17 item 7): every node's config.yaml sets
`disable-default-registry-endpoint`, so containerd pulls only from the mirrors registries.yaml
names (the local registry) and never tries the upstream registry last.

The k3s role's real defaults, vars and config.yaml template run through ansible-playbook for
three servers and an agent that are all `connection: local` (tests/k3s_local.py).

Upstream (cited, not copied): k3s pkg/cli/cmds/agent.go defines the boolean flag
`disable-default-registry-endpoint` ("(agent/containerd) Disables containerd's fallback default
registry endpoint when a mirror is configured for that registry") and pkg/cli/cmds/server.go
lists it among the server's flags too; k3s-io/docs docs/installation/private-registry.md
("Default Endpoint Fallback"): available from v1.26.13+k3s1, v1.27.10+k3s1, v1.28.6+k3s1,
v1.29.1+k3s1, so every release of the pinned v1.36 line has it.
"""

import yaml
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.config import AGENT_FLAGS
from ansible_collections.gauntlet.platform.plugins.module_utils.k3s.version import parse_version
from collection_defaults import pinned_versions
from k3s_local import HOSTS, node_play, run_play

PLAY = node_play("Render each node's k3s config.yaml with the role's template")
FLAG = "disable-default-registry-endpoint"


def render(tmp_path, ansible_env, **extra):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    variables = {
        "out": str(out),
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        "gauntlet_versions": {"k3s": "v1.36.4+k3s1"},
        **extra,
    }
    result = run_play(tmp_path, ansible_env(tmp_path), PLAY, variables)
    return result, {
        host: yaml.safe_load((out / f"{host}.yaml").read_text()) for host in HOSTS if result.returncode == 0
    }


def test_every_node_refuses_the_upstream_fallback(tmp_path, ansible_env):
    result, configs = render(tmp_path, ansible_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for host in HOSTS:
        assert configs[host][FLAG] is True, host


def test_the_fallback_can_be_allowed_for_a_connected_cluster(tmp_path, ansible_env):
    result, configs = render(tmp_path, ansible_env, k3s_disable_default_registry_endpoint=False)
    assert result.returncode == 0, result.stdout + result.stderr
    for host in HOSTS:
        assert FLAG not in configs[host], host


def test_the_pinned_k3s_version_has_the_flag():
    # The docs' version gate: the flag exists from v1.29.1+k3s1 (and the older lines' January
    # 2024 patches); the version the collection pins must be at least that.
    pinned = pinned_versions()
    assert parse_version(pinned["k3s"]) >= parse_version("v1.29.1+k3s1"), pinned["k3s"]
    # and the role's flag check knows it for servers and agents alike.
    assert FLAG in AGENT_FLAGS
