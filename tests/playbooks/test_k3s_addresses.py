"""Where nodes and the kubeconfig reach the Kubernetes API, with and without a VIP (issue 11 item 15),
and with kube-vip holding it (issue 17 item 1).

The k3s role's real template (config.yaml.j2), its real kubeconfig tasks and its kube-vip
manifest tasks run through ansible-playbook for three servers and an agent that are all
`connection: local` and write into a temporary folder: no host is contacted. The first
server's admin kubeconfig is a test double of the file k3s writes (server
https://127.0.0.1:6443); the bundle lock is a test double holding one image digest.
"""

import json
import os

import pytest
import yaml
from contract_paths import CONTRACT_PATHS
from k3s_local import HOSTS, K3S, node_play, run_play

PLAY = node_play(
    "Render each node's k3s config.yaml and the controller's kubeconfig",
    after=f"""    - name: The role's kubeconfig tasks
      ansible.builtin.include_tasks: {K3S / "tasks/kubeconfig.yml"}
    - name: The role's kube-vip manifest, on the servers when k3s_kube_vip is on (tasks/main.yml)
      ansible.builtin.include_tasks: {K3S / "tasks/kube_vip.yml"}
      when: k3s_kube_vip | bool and __k3s_node_role == 'server'
""",
)
KUBE_VIP_IMAGE = "ghcr.io/kube-vip/kube-vip:v1.2.3"
KUBE_VIP_DIGEST = "sha256:" + "ab" * 32

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
    # The role's task files run outside the role: the play's folder finds its templates.
    (tmp_path / "templates").symlink_to(K3S / "templates")
    lock = tmp_path / "bundle.lock.json"
    lock.write_text(json.dumps({"version": 1, "images": [{"name": KUBE_VIP_IMAGE, "digest": KUBE_VIP_DIGEST}]}))
    variables = {
        "out": str(out),
        "k3s_config_dir": str(k3s_dir),
        "k3s_data_dir": str(tmp_path) + "/data-{{ inventory_hostname }}",
        "k3s_bundle_lock": str(lock),
        "gauntlet_images": {"kube_vip": KUBE_VIP_IMAGE},
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
    manifests = {host: tmp_path / f"data-{host}/server/manifests/gauntlet-kube-vip.yaml" for host in HOSTS}
    render.manifests = {host: path for host, path in manifests.items() if path.exists()}
    return configs, kubeconfig["clusters"][0]["cluster"]["server"]


def test_without_a_vip_everything_goes_through_the_first_server(tmp_path, ansible_env):
    configs, kubeconfig_server = render(tmp_path, ansible_env)
    assert render.manifests == {}  # no kube-vip without k3s_kube_vip
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


# --- kube-vip holds the address (issue 17 item 1) ------------------------------------------
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the role writes kube-vip's manifest owned by root")


@needs_root
def test_kube_vip_is_deployed_from_every_server_and_everything_uses_its_address(tmp_path, ansible_env):
    configs, kubeconfig_server = render(
        tmp_path, ansible_env, gauntlet_control_plane_address="10.77.0.100", k3s_kube_vip=True,
        k3s_kube_vip_interface="ens18",
    )  # fmt: skip
    # The nodes' configuration is what an outside VIP gives (the test above): the first server
    # starts the cluster, every server names the VIP in its certificate, the others and the
    # agent join through it, and the kubeconfig points at it.
    assert configs["s1"]["cluster-init"] is True and "server" not in configs["s1"]
    for server in ("s1", "s2", "s3"):
        assert configs[server]["tls-san"] == ["10.77.0.100"], server
    assert configs["s2"]["server"] == configs["s3"]["server"] == configs["a1"]["server"] == "https://10.77.0.100:6443"
    assert kubeconfig_server == "https://10.77.0.100:6443"
    # The manifest is on every server (k3s applies it from any of them), never on the agent.
    assert sorted(render.manifests) == ["s1", "s2", "s3"]
    texts = {host: path.read_text() for host, path in render.manifests.items()}
    assert texts["s1"] == texts["s2"] == texts["s3"]
    assert oct(render.manifests["s1"].stat().st_mode & 0o777) == "0o600"
    objects = [doc for doc in yaml.safe_load_all(texts["s1"]) if doc]
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ServiceAccount", "kube-vip"),
        ("ClusterRole", "system:kube-vip-role"),
        ("ClusterRoleBinding", "system:kube-vip-binding"),
        ("DaemonSet", "kube-vip-ds"),
    ]
    container = objects[3]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert (env["address"], env["port"], env["vip_interface"]) == ("10.77.0.100", "6443", "ens18")
    # Pinned to the digest of the bundle lock (test double), tag kept for people.
    assert container["image"] == f"{KUBE_VIP_IMAGE}@{KUBE_VIP_DIGEST}"
