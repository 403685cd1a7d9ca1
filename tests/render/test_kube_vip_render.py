"""kube-vip's manifest as the k3s role writes it (k3s_kube_vip; issue 17 item 1), checked against upstream.

The role's own task file (roles/k3s/tasks/kube_vip.yml) runs through ansible-playbook with the
variables of inventory/sample (its gauntlet_images pin) on the first server, `connection: local`,
writing into a temporary folder. No bundle lock: the image keeps its tag (the pinning to the
lock's digest is tested in tests/playbooks/test_k3s_addresses.py).

kube-vip's sources are not in the shared upstream folder, so the upstream facts are written here,
each with the file it comes from (kube-vip/kube-vip at tag v1.2.3 = 7ce55caffa2789b4165072bbef7c7d376000995e,
kube-vip/website at f5c870bfde67d6ec8e52fe78b6a4d88fc4b6a78c):
- every environment variable kube-vip reads is a constant of pkg/kubevip/config_envvar.go;
- the RBAC rules are kube-vip.io/manifests/rbac.yaml (website content/manifests/rbac.yaml, the same
  rules as pkg/kubevip/config_generator.go GenerateRole);
- the DaemonSet's capabilities, tolerations and affinity are pkg/kubevip/config_generator.go
  (generatePodSpec, GenerateDaemonsetManifestFromConfig with --taint).
"""

import json
import sys

import pytest
import yaml
from collection_defaults import pinned_versions

# pkg/kubevip/config_envvar.go @ v1.2.3: the value of every constant (the names kube-vip reads).
UPSTREAM_ENV_NAMES = {
    "vip_arp", "vip_arpRate", "vip_preserve_on_leadership_loss", "vip_leaderelection", "vip_leasename",
    "vip_leaseduration", "vip_renewdeadline", "vip_retryperiod", "vip_leaseannotations", "vip_loglevel",
    "instance_name", "vip_interface", "vip_loseleadership", "vip_loseleadership_timeout_seconds",
    "vip_interfaceloglobal", "vip_servicesinterface", "vip_allow_interface_not_up", "vip_subnet", "egress_podcidr",
    "egress_servicecidr", "egress_withnftables", "per_service_election_on_demand", "egress_enableinternalsnat",
    "vip_address", "address", "port", "annotation", "vip_ddns", "vip_nodename", "vip_singlenode", "vip_startleader",
    "bgp_enable", "bgp_attach_ip_to_interface", "bgp_routerid", "bgp_routerinterface", "bgp_as", "bgp_peeraddress",
    "bgp_peers", "bgp_peeras", "bgp_peerpass", "bgp_multihop", "bgp_sourceif", "bgp_sourceip", "bgp_hold_time",
    "bgp_keepalive_interval", "control_plane_health_check_address", "control_plane_health_check_period_seconds",
    "control_plane_health_check_timeout_seconds", "control_plane_health_check_failure_threshold",
    "control_plane_health_check_ca_path", "zebra_enable", "zebra_url", "zebra_version", "zebra_software_name",
    "mpbgp_nexthop", "mpbgp_ipv4", "mpbgp_ipv6", "vip_wireguard", "vip_routingtable", "vip_routingtableid",
    "vip_routingtabletype", "vip_routingprotocol", "vip_cleanroutingtable", "vip_skipdad", "cp_namespace",
    "cp_enable", "cp_detect", "kubernetes_addr", "svc_enable", "svc_namespace", "svc_election", "svc_leasename",
    "lb_class_only", "lb_class_name", "lb_class_legacy_handling", "lb_enable", "lb_port", "lb_fwdmethod",
    "enable_service_security", "enable_node_labeling", "prometheus_server", "k8s_config_file", "dns_mode",
    "dhcp_mode", "dhcp_backoff_attempts", "disable_service_updates", "enable_endpoints", "mirror_dest_interface",
    "iptables_backend", "backend_health_check_interval", "health_check_port", "enable_upnp", "egress_clean",
    "config_file", "debounce_time",
}  # fmt: skip
# website content/manifests/rbac.yaml (kube-vip.io/manifests/rbac.yaml).
UPSTREAM_RBAC_RULES = [
    {"apiGroups": [""], "resources": ["services/status"], "verbs": ["update"]},
    {"apiGroups": [""], "resources": ["services", "endpoints"], "verbs": ["list", "get", "watch", "update"]},
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "get", "watch", "update", "patch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["list", "get", "watch", "update", "create"]},
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "get", "watch", "update"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
]  # fmt: skip
VIP = "192.168.56.100"

PLAY = """---
- name: Write kube-vip's manifest with the role's task file
  hosts: k3s_servers[0]
  connection: local
  gather_facts: false
  vars_files:
    - {k3s}/defaults/main.yml
    - {k3s}/vars/main.yml
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The role's kube-vip tasks
      ansible.builtin.include_tasks: {k3s}/tasks/kube_vip.yml
    - name: The images gauntlet_bundle_images (the computed list, offline.yml) adds to the manifests' images
      ansible.builtin.copy:
        content: "{{{{ gauntlet_bundle_extra_images | to_json }}}}"
        dest: "{work}/bundle-images.json"
        mode: "0600"
"""


@pytest.fixture(scope="module")
def objects(tmp_path_factory, render_tools):
    work = tmp_path_factory.mktemp("kube-vip")
    k3s = render_tools.repo / "roles/k3s"
    (work / "templates").symlink_to(k3s / "templates")
    (work / "play.yml").write_text(PLAY.format(k3s=k3s, work=work))
    variables = {
        "k3s_kube_vip": True,
        "gauntlet_control_plane_address": VIP,
        "k3s_data_dir": str(work / "data"),
        "k3s_bundle_lock": str(work / "no-lock.json"),
        "ansible_python_interpreter": sys.executable,
    }
    result = render_tools.run_playbook(work / "play.yml", "-e", json.dumps(variables))
    assert result.returncode == 0, result.stdout + result.stderr
    text = (work / "data/server/manifests/gauntlet-kube-vip.yaml").read_text()
    found = {doc["kind"]: doc for doc in yaml.safe_load_all(text) if doc}
    found["bundle images"] = json.loads((work / "bundle-images.json").read_text())
    return found


def container_of(objects):
    return objects["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]


def test_every_object_validates_strictly(objects, render_tools):
    kinds = ["ClusterRole", "ClusterRoleBinding", "DaemonSet", "ServiceAccount"]
    assert sorted(objects) == sorted([*kinds, "bundle images"])
    for kind in kinds:
        render_tools.validate_object(objects[kind])


def test_every_environment_variable_is_one_kube_vip_reads(objects):
    env = container_of(objects)["env"]
    names = [item["name"] for item in env]
    assert len(names) == len(set(names))
    assert set(names) <= UPSTREAM_ENV_NAMES, sorted(set(names) - UPSTREAM_ENV_NAMES)


def test_control_plane_in_arp_mode_with_leader_election(objects):
    container = container_of(objects)
    env = {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}
    assert env["vip_arp"] == "true" and env["cp_enable"] == "true" and env["vip_leaderelection"] == "true"
    assert env["address"] == VIP and env["port"] == "6443" and env["vip_subnet"] == "32"
    assert env["svc_enable"] == "false"  # Services stay with k3s's ServiceLB
    assert env["cp_namespace"] == "kube-system"
    assert env["vip_nodename"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}  # the lease holder's name
    assert "vip_interface" not in env  # empty k3s_kube_vip_interface: the default route's interface
    assert env["prometheus_server"] == "127.0.0.1:2112"  # not every address of the host network
    # upstream's --controlplane manifests run the `manager` command (generatePodSpec).
    assert container["args"] == ["manager"]


def test_the_image_is_the_pinned_one_of_the_versions_file(objects, render_tools):
    assert pinned_versions()["kube_vip"] == "v1.2.3"
    assert container_of(objects)["image"] == "ghcr.io/kube-vip/kube-vip:v1.2.3"
    # So the bundle pulls it (its lock records the digest the role pins) and the preload pushes it.
    assert "ghcr.io/kube-vip/kube-vip:v1.2.3" in objects["bundle images"]


def test_rbac_is_kube_vips_published_rbac_bound_to_the_pods_account(objects):
    assert objects["ClusterRole"]["rules"] == UPSTREAM_RBAC_RULES
    account = objects["ServiceAccount"]["metadata"]
    assert account["namespace"] == "kube-system"
    binding = objects["ClusterRoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": objects["ClusterRole"]["metadata"]["name"],
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["name"], "namespace": "kube-system"}]
    pod = objects["DaemonSet"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["name"]
    assert objects["DaemonSet"]["metadata"]["namespace"] == "kube-system"


def test_runs_on_every_server_in_the_host_network_with_two_capabilities(objects):
    daemonset = objects["DaemonSet"]
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert container_of(objects)["securityContext"] == {
        "capabilities": {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}
    }
    # k3s labels servers node-role.kubernetes.io/control-plane (and master); upstream's --taint.
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    keys = {term["matchExpressions"][0]["key"] for term in terms}
    assert keys == {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}
    assert {"effect": "NoExecute", "operator": "Exists"} in pod["tolerations"]  # k3s_server_taint
    selector = daemonset["spec"]["selector"]["matchLabels"]
    assert selector.items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()
