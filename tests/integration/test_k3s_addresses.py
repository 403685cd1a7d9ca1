"""Where nodes and the kubeconfig reach the Kubernetes API, with and without a VIP (issue 11 item 15).

The k3s role's real template (config.yaml.j2) and its real kubeconfig tasks run through
ansible-playbook for three servers and an agent that are all `connection: local` and write
into a temporary folder: no host is contacted. The first server's admin kubeconfig is a
test double of the file k3s writes (server https://127.0.0.1:6443).
"""

import pytest
import yaml
from contract_paths import CONTRACT_PATHS
from k3s_local import HOSTS, K3S, node_play, run_play

PLAY = node_play(
    "Render each node's k3s config.yaml and the controller's kubeconfig",
    after=f"""    - name: The role's kubeconfig tasks
      ansible.builtin.include_tasks: {K3S / "tasks/kubeconfig.yml"}
""",
)

KUBECONFIG_DOUBLE = """apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0tLS1CRUdJTg==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context: {cluster: default, user: default}
  name: default
current-context: default
users:
- name: default
  user: {client-certificate-data: LS0t, client-key-data: LS0t}
"""


def render(tmp_path, ansible_env, **extra):
    out = tmp_path / "out"
    k3s_dir = tmp_path / "k3s"
    out.mkdir()
    k3s_dir.mkdir()
    (k3s_dir / "k3s.yaml").write_text(KUBECONFIG_DOUBLE)
    variables = {
        "out": str(out),
        "k3s_config_dir": str(k3s_dir),
        "k3s_kubeconfig_local": str(out / "kubeconfig.yaml"),
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        **CONTRACT_PATHS,
        "gauntlet_versions": {"k3s": "v1.36.4+k3s1"},
        **extra,
    }
    result = run_play(tmp_path, ansible_env(tmp_path), PLAY, variables)
    assert result.returncode == 0, result.stdout + result.stderr
    configs = {host: yaml.safe_load((out / f"{host}.yaml").read_text()) for host in HOSTS}
    kubeconfig = yaml.safe_load((out / "kubeconfig.yaml").read_text())
    return configs, kubeconfig["clusters"][0]["cluster"]["server"]


def test_without_a_vip_everything_goes_through_the_first_server(tmp_path, ansible_env):
    configs, kubeconfig_server = render(tmp_path, ansible_env)
    assert configs["s1"]["cluster-init"] is True and "server" not in configs["s1"]
    assert configs["s2"]["server"] == configs["s3"]["server"] == "https://10.77.0.11:6443"
    assert configs["a1"]["server"] == "https://10.77.0.11:6443"
    assert configs["s1"]["tls-san"] == ["10.77.0.11"]
    assert kubeconfig_server == "https://10.77.0.11:6443"


@pytest.mark.parametrize(
    "extra", [{"gauntlet_control_plane_address": "10.77.0.100"}, {"k3s_api_address": "10.77.0.100"}]
)
def test_a_vip_carries_joins_agents_kubeconfig_and_the_certificate(tmp_path, ansible_env, extra):
    configs, kubeconfig_server = render(tmp_path, ansible_env, k3s_tls_san=["api.gauntlet.example"], **extra)
    # The first server starts the cluster; every other node and the kubeconfig use the VIP.
    assert configs["s1"]["cluster-init"] is True and "server" not in configs["s1"]
    assert configs["s2"]["server"] == configs["s3"]["server"] == "https://10.77.0.100:6443"
    assert configs["a1"]["server"] == "https://10.77.0.100:6443"
    for server in ("s1", "s2", "s3"):
        # The API certificate names the VIP on every server (a client may land on any of them).
        assert configs[server]["tls-san"] == ["10.77.0.100", "api.gauntlet.example"], server
        assert configs[server]["advertise-address"] == f"10.77.0.1{server[1]}"
    assert "tls-san" not in configs["a1"]
    assert kubeconfig_server == "https://10.77.0.100:6443"
