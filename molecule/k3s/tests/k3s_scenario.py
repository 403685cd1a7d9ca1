"""Shared facts of the k3s scenario for its testinfra tests (read from the scenario's own files)."""

import json
import os
import pwd
import subprocess
from pathlib import Path

import yaml

SCENARIO = Path(__file__).resolve().parent.parent
REPO = SCENARIO.parent.parent
ADDRESS = {p.stem: yaml.safe_load(p.read_text())["node_ip"] for p in sorted((SCENARIO / "host_vars").glob("*.yml"))}
SERVERS = ["k3s-server-1", "k3s-server-2", "k3s-server-3"]
AGENTS = ["k3s-agent-1"]
OVERRIDES = yaml.safe_load((SCENARIO / "group_vars/all/zz-molecule.yml").read_text())
VERSION = yaml.safe_load((REPO / "roles/gauntlet/defaults/main/versions.yml").read_text())[
    "gauntlet_collection_versions"
]["k3s"]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
INVENTORY = EPHEMERAL / "inventory"
CREDENTIALS = INVENTORY / "credentials"
BUNDLE = Path(os.environ.get("GAUNTLET_K3S_BUNDLE") or EPHEMERAL / "bundle")
JOIN_URL = f"https://{ADDRESS['k3s-server-1']}:6443"
# Who ran Ansible on the controller: the unprivileged user of scripts/molecule-test, else
# whoever runs this (a plain `molecule test`).
CONTROLLER_USER = os.environ.get("GAUNTLET_CONTROLLER_USER") or pwd.getpwuid(os.geteuid()).pw_name

# Every flag name of `k3s server --help` / `k3s agent --help` (v1.36) that the role may write;
# kept here, independently of the role's own list.
K3S_AGENT_FLAGS = {
    "token", "token-file", "server", "data-dir", "node-name", "node-label", "node-taint", "node-ip",
    "node-external-ip", "protect-kernel-defaults", "kubelet-arg", "kube-proxy-arg", "private-registry",
    "resolv-conf", "flannel-iface", "pause-image", "snapshotter", "selinux", "debug", "v",
    "disable-default-registry-endpoint",
}  # fmt: skip
K3S_SERVER_ONLY_FLAGS = {
    "cluster-init", "advertise-address", "tls-san", "write-kubeconfig-mode", "secrets-encryption",
    "kube-apiserver-arg", "kube-controller-manager-arg", "kube-scheduler-arg", "etcd-arg", "disable",
    "cluster-cidr", "service-cidr", "cluster-dns", "cluster-domain", "flannel-backend", "agent-token",
    "agent-token-file",
    "bind-address", "https-listen-port", "datastore-endpoint", "etcd-expose-metrics",
}  # fmt: skip


def calls(host):
    """The k3s test double's record of every call on that host."""
    content = host.file("/var/lib/k3s-double/calls.jsonl").content_string
    return [json.loads(line) for line in content.splitlines() if line]


def starts(host):
    return [call for call in calls(host) if call["argv"][1:2] in (["server"], ["agent"])]


def ansible_playbook(playbook, *args, timeout=None):
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    }
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(REPO / "playbooks" / playbook), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
