"""Realistic inventory mistakes stop site.yml in validation, before any host task (issue 12).

Each case is a copy of inventory/sample with one thing wrong, written into a temporary
checkout (apps/ and gitops/ linked, so the sample's lookups into the checkout work). Both
`site.yml --check` and `site.yml --tags hosts` must stop in the validation play with the
expected message and no traceback.

No host can be contacted: the copy's hosts have TEST-NET-1 addresses (192.0.2.0/24,
RFC 5737, never routed) and `ansible_connection: gauntlet_no_such_connection`, a
connection plugin that does not exist, so any host task would fail loudly with the host
in the recap. The recap must list localhost alone. The good copies prove the setup: they
pass validation and reach the hosts stage, where that connection fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from collection_defaults import collection_defaults
from playbook_runs import playbook_command

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "inventory" / "sample"
NO_CONNECTION = "gauntlet_no_such_connection"
VALIDATION_TASK = "TASK [Check groups, variables, addresses, domains, versions and secrets]"


class Inventory:
    """A copy of inventory/sample in a temporary checkout, edited as YAML."""

    def __init__(self, tmp_path: Path):
        self.checkout = tmp_path / "checkout"
        self.path = self.checkout / "inventory" / "cluster"
        shutil.copytree(SAMPLE, self.path)
        for name in ("apps", "gitops"):
            os.symlink(REPO / name, self.checkout / name)
        hosts = self.hosts()
        hosts["all"]["vars"]["ansible_connection"] = NO_CONNECTION
        addresses = {"server-1": "192.0.2.11", "agent-1": "192.0.2.21", "agent-2": "192.0.2.22"}
        addresses["registry-1"] = "192.0.2.30"
        for host, address in addresses.items():
            self.host_vars(host)["ansible_host"] = address
        self.save_hosts(hosts)
        # The controller does not resolve the copy's domains (that check has its own tests
        # in test_inventory_validation.py); switched off as its comment in domains.yml says.
        self.set("domains.yml", local_domains_controller_check=False)

    # hosts.yml
    def hosts(self) -> dict:
        if not hasattr(self, "_hosts"):
            self._hosts = yaml.safe_load((self.path / "hosts.yml").read_text())
        return self._hosts

    def save_hosts(self, data=None) -> None:
        (self.path / "hosts.yml").write_text(yaml.safe_dump(data if data is not None else self.hosts()))

    def group(self, name: str) -> dict:
        children = self.hosts()["all"]["children"]
        return children[name] if name in children else children["k3s_cluster"]["children"][name]

    def host_vars(self, host: str) -> dict:
        for group in ("k3s_servers", "k3s_agents", "registry"):
            hosts = self.group(group).get("hosts") or {}
            if host in hosts:
                return hosts[host]
        raise KeyError(host)

    # group_vars/all/<topic>.yml (a topic the sample does not have starts empty)
    def topic(self, name: str) -> dict:
        path = self.path / "group_vars" / "all" / name
        return yaml.safe_load(path.read_text()) if path.exists() else {}

    def save_topic(self, name: str, data: dict) -> None:
        (self.path / "group_vars" / "all" / name).write_text(yaml.safe_dump(data, sort_keys=False))

    def set(self, topic: str, **values) -> None:
        data = self.topic(topic)
        data.update(values)
        self.save_topic(topic, data)

    def edit(self, topic: str, key: str, change) -> None:
        data = self.topic(topic)
        change(data[key])
        self.save_topic(topic, data)


# --- One mistake each ------------------------------------------------------------------
def domains(**changes):
    return lambda inv: inv.edit("domains.yml", "local_domains_services", lambda d: d.update(changes))


def versions(**changes):
    """The site's own pins (gauntlet_version_overrides), in a versions.yml of its inventory."""
    return lambda inv: inv.set("versions.yml", gauntlet_version_overrides=changes)


def override(topic, name, change):
    """The site overrides collection default `name` in its `topic`: the collection's value, changed."""

    def write(inv):
        value = collection_defaults()[name]
        change(value)
        inv.set(topic, **{name: value})

    return write


def platform(**values):
    return lambda inv: inv.set("platform.yml", **values)


def host_var(host, **values):
    def change(inv):
        inv.host_vars(host).update(values)
        inv.save_hosts()

    return change


def rename_host(old, new):
    def change(inv):
        group = inv.group("k3s_agents")["hosts"]
        group[new] = group.pop(old)
        inv.save_hosts()

    return change


def move_agents_out_of_cluster(inv):
    children = inv.hosts()["all"]["children"]
    children["k3s_agents"] = children["k3s_cluster"]["children"].pop("k3s_agents")
    inv.save_hosts()


def server_also_agent(inv):
    inv.group("k3s_agents")["hosts"]["server-1"] = None
    inv.save_hosts()


def two_servers(inv):
    inv.group("k3s_servers")["hosts"]["server-2"] = {"ansible_host": "192.0.2.12"}
    inv.save_hosts()


def no_registry_group(inv):
    inv.hosts()["all"]["children"].pop("registry")
    inv.save_hosts()


def drop_service(service):
    return lambda inv: inv.edit("domains.yml", "local_domains_services", lambda d: d.pop(service))


def drop_version(component):
    """A site that sets gauntlet_versions itself (the whole mapping) and leaves `component` out."""
    pins = collection_defaults()["gauntlet_collection_versions"]
    return lambda inv: inv.set("versions.yml", gauntlet_versions={k: v for k, v in pins.items() if k != component})


def bundle_entry(prefix, **changes):
    """Change the gauntlet_bundle_files_listed entry whose name starts with `prefix` (by name, not
    position: the list's order changes when entries move to tables of their own)."""

    def change(files):
        (entry,) = [e for e in files if e["name"].startswith(prefix)]
        for key, value in changes.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value

    return override("versions.yml", "gauntlet_bundle_files_listed", change)


kube_prometheus_sha = override(
    "versions.yml",
    "gauntlet_kube_prometheus_files",
    lambda files: files["grafana-service.yaml"].update(sha256="not-a-checksum"),
)


def render_dir_is_a_file(inv):
    target = inv.checkout / "render-here"
    target.write_text("a file, not a folder\n")
    inv.set("platform.yml", gauntlet_render_dir=str(target))


def credentials_folder(mode, file_mode=None):
    def change(inv):
        folder = inv.path / "credentials"
        folder.mkdir()
        if file_mode is not None:
            (folder / "k3s-token").write_text("not a real token\n")
            (folder / "k3s-token").chmod(file_mode)
        folder.chmod(mode)

    return change


def hosts_text(text):
    def change(inv):
        (inv.path / "hosts.yml").write_text(text)

    return change


BROKEN = [
    # Types: mappings given as lists or strings, numbers as text, out of range
    (
        "domains-as-list",
        lambda inv: inv.set("domains.yml", local_domains_services=["gitea.local"]),
        'local_domains_services = ["gitea.local"]: it is a list, the option takes a mapping',
    ),
    (
        "domains-as-string",
        lambda inv: inv.set("domains.yml", local_domains_services="gitea.local"),
        "local_domains_services = 'gitea.local': it is a string, the option takes a mapping",
    ),
    (
        "versions-as-list",
        lambda inv: inv.set("versions.yml", gauntlet_versions=["v1.36.4+k3s1"]),
        'gauntlet_versions = ["v1.36.4+k3s1"]: it is a list, the option takes a mapping',
    ),
    (
        "versions-as-string",
        lambda inv: inv.set("versions.yml", gauntlet_versions="v1.36.4+k3s1"),
        "gauntlet_versions = 'v1.36.4+k3s1': it is a string, the option takes a mapping",
    ),
    (
        "port-as-text",
        platform(gauntlet_registry_port="5000"),
        "gauntlet_registry_port = '5000': it is the text '5000', the option takes a number: write it without quotes",
    ),
    (
        "port-out-of-range",
        platform(gauntlet_registry_port=70000),
        "gauntlet_registry_port = 70000: a port is between 1 and 65535",
    ),
    (
        "role-port-negative",
        platform(k3s_api_port=-6443),
        "k3s_api_port = -6443: a port is between 1 and 65535 (role k3s",
    ),
    (
        "replicas-zero",
        platform(monitoring_prometheus_replicas=0),
        "monitoring_prometheus_replicas = 0: it must be at least 1 (role monitoring",
    ),
    (
        "count-as-word",
        platform(keycloak_replicas="two"),
        "keycloak_replicas = 'two': it is a string, the option takes a whole number (role keycloak",
    ),
    (
        "bool-as-word",
        platform(gauntlet_linkerd_enabled="maybe"),
        "gauntlet_linkerd_enabled = 'maybe': it is a string, the option takes true or false",
    ),
    (
        "list-as-string",
        platform(gauntlet_linkerd_inject_namespaces="keycloak"),
        "gauntlet_linkerd_inject_namespaces = 'keycloak': it is a string, the option takes a list",
    ),
    (
        "undefined-in-group-vars",
        platform(gauntlet_cluster_name="{{ cluster_nmae }}"),
        "variable gauntlet_cluster_name (set in ",
    ),
    (
        "undefined-in-host-vars",
        host_var("server-1", node_ip="{{ server_ip }}"),
        "host 'server-1': variable node_ip (set in ",
    ),
    # Names and addresses
    (
        "domain-trailing-dot-duplicate",
        domains(gitea="registry.local."),
        "both use 'registry.local' (case and a trailing dot do not make names different)",
    ),
    (
        "domain-case-duplicate",
        domains(gitea="Registry.LOCAL"),
        "both use 'registry.local' (case and a trailing dot do not make names different)",
    ),
    (
        "domain-is-a-host-name",
        domains(gitea="server-1"),
        "local_domains_services.gitea = 'server-1' is the name of host 'server-1'",
    ),
    (
        "domain-is-an-address",
        domains(gitea="192.0.2.50"),
        "local_domains_services.gitea = '192.0.2.50' is an IP address, not a name",
    ),
    ("domain-is-localhost", domains(gitea="localhost"), "local_domains_services.gitea = 'localhost' is localhost"),
    (
        "domain-underscore",
        domains(gitea="gitea_local"),
        "local_domains_services.gitea = 'gitea_local' is not a valid domain (underscores are not allowed",
    ),
    (
        "node-ip-loopback",
        host_var("agent-1", ansible_host="127.0.0.1"),
        "host 'agent-1': node_ip '127.0.0.1' is a loopback address",
    ),
    (
        "node-ip-network-address",
        lambda inv: (
            platform(gauntlet_node_network="192.0.2.0/24")(inv),
            host_var("agent-2", ansible_host="192.0.2.0")(inv),
        ),
        "host 'agent-2': node_ip '192.0.2.0' is the network address of gauntlet_node_network 192.0.2.0/24",
    ),
    (
        "node-ip-broadcast-address",
        lambda inv: (
            platform(gauntlet_node_network="192.0.2.0/24")(inv),
            host_var("agent-2", ansible_host="192.0.2.255")(inv),
        ),
        "host 'agent-2': node_ip '192.0.2.255' is the broadcast address of gauntlet_node_network 192.0.2.0/24",
    ),
    (
        "node-ip-not-an-address",
        host_var("agent-1", node_ip="agent-1.example"),
        "host 'agent-1': node_ip 'agent-1.example' is invalid (it is not an IPv4 address)",
    ),
    (
        "duplicate-node-ip",
        host_var("agent-2", ansible_host="192.0.2.21"),
        "hosts 'agent-1' and 'agent-2' share the address 192.0.2.21: give each host its own node_ip",
    ),
    (
        "host-name-not-a-node-name",
        rename_host("agent-1", "Agent_1"),
        "host name 'Agent_1' is not a valid Kubernetes node name",
    ),
    (
        "ingress-not-an-address",
        platform(gauntlet_ingress_address="ingress.local"),
        "gauntlet_ingress_address 'ingress.local' is invalid (it is not an IPv4 address)",
    ),
    (
        "ingress-on-registry-host",
        platform(gauntlet_ingress_address="192.0.2.30"),
        "gauntlet_ingress_address '192.0.2.30' is the address of host 'registry-1', which is not a k3s node",
    ),
    (
        "direct-address-invalid",
        lambda inv: inv.set("domains.yml", local_domains_direct={"registry": "192.0.2"}),
        "local_domains_direct.registry = '192.0.2' is invalid (it is not an IPv4 address)",
    ),
    (
        "direct-address-loopback",
        lambda inv: inv.set("domains.yml", local_domains_direct={"registry": "127.0.0.1"}),
        "local_domains_direct.registry = '127.0.0.1' is a loopback address",
    ),
    (
        "direct-unknown-service",
        lambda inv: inv.set("domains.yml", local_domains_direct={"mirror": "192.0.2.30"}),
        "local_domains_direct.mirror names a service without a domain",
    ),
    # Group structure
    ("server-and-agent", server_also_agent, "host 'server-1' is in both 'k3s_servers' and 'k3s_agents'"),
    (
        "agents-outside-cluster",
        move_agents_out_of_cluster,
        "group 'k3s_agents' has hosts outside 'k3s_cluster' (agent-1, agent-2)",
    ),
    (
        "two-servers",
        two_servers,
        "group 'k3s_servers': there are 2 k3s servers; embedded etcd needs 1 or an odd number >= 3",
    ),
    ("no-registry-group", no_registry_group, "group 'registry' is missing from the inventory"),
    (
        "service-missing",
        drop_service("keycloak"),
        "local_domains_services has no 'keycloak': the roles need a domain for it",
    ),
    # Versions and the bundle
    (
        "k3s-version-without-v",
        versions(k3s="1.36.4+k3s1"),
        "gauntlet_versions.k3s = '1.36.4+k3s1' is not a k3s version: write it like v1.36.4+k3s1",
    ),
    ("version-as-number", versions(registry=3.1), "gauntlet_versions.registry = 3.1 is a number: quote it"),
    (
        "argocd-version-without-v",
        versions(argocd="3.5.1"),
        "gauntlet_versions.argocd = '3.5.1' is not a argocd version: write it like v3.5.1",
    ),
    ("version-missing", drop_version("kube_prometheus"), "gauntlet_versions.kube_prometheus is not set"),
    (
        "version-override-unknown-component",
        versions(k3="v1.36.5+k3s1"),
        "gauntlet_version_overrides.k3: the collection pins no component 'k3'; name one of argocd, cnpg",
    ),
    (
        "version-overrides-as-list",
        lambda inv: inv.set("versions.yml", gauntlet_version_overrides=["v1.36.5+k3s1"]),
        'gauntlet_version_overrides = ["v1.36.5+k3s1"]: it is a list, the option takes a mapping',
    ),
    (
        "bundle-sha256-malformed",
        bundle_entry("argo-cd/", sha256="795a3a97"),
        "sha256 '795a3a97' is not 64 lower-case hex digits",
    ),
    ("bundle-entry-without-url", bundle_entry("cloudnative-pg/", url=None), "has no 'url': every entry needs one"),
    (
        "bundle-url-not-http",
        bundle_entry("argo-cd/", url="github.com/argoproj/argo-cd/install.yaml"),
        "url 'github.com/argoproj/argo-cd/install.yaml' is not an http(s) URL",
    ),
    (
        "kube-prometheus-sha256-malformed",
        kube_prometheus_sha,
        "gauntlet_kube_prometheus_files['grafana-service.yaml']: sha256 'not-a-checksum' is not 64 lower-case hex digits",
    ),
    # Role variables
    (
        "role-option-misspelled",
        platform(k3s_server_extra_confg={"disable": ["traefik"]}),
        "'k3s_server_extra_confg' is not a variable anything reads; did you mean 'k3s_server_extra_config'?",
    ),
    (
        "role-option-unknown",
        platform(k3s_server_args="--disable traefik"),
        "'k3s_server_args' is not an option of role k3s",
    ),
    (
        "topic-misspelled",
        lambda inv: inv.set("versions.yml", gauntlet_version={"k3s": "v1.36.5+k3s1"}),
        "'gauntlet_version' is not a variable anything reads; did you mean 'gauntlet_versions'?",
    ),
    (
        "topic-prefix-misspelled",
        platform(local_domain_manage_controller=True),
        "did you mean 'local_domains_manage_controller'?",
    ),
    (
        "role-option-bad-choice",
        platform(k3s_pod_security_level="strict"),
        "k3s_pod_security_level = 'strict': it must be one of: privileged, baseline, restricted",
    ),
    (
        "role-option-wrong-type",
        platform(k3s_tls_san="api.example"),
        "k3s_tls_san = 'api.example': it is a string, the option takes a list",
    ),
    ("render-dir-is-a-file", render_dir_is_a_file, "' is a file, not a folder"),
    (
        "registry-account-key-misspelled",
        override(
            "platform.yml", "gauntlet_registry_accounts", lambda a: a["ci"].update(credentail=a["ci"].pop("credential"))
        ),
        "gauntlet_registry_accounts.ci has an unknown key 'credentail' (did you mean 'credential'?)",
    ),
    # Secrets on disk
    (
        "credentials-world-readable",
        credentials_folder(0o755),
        "has mode 0755: every user of the controller can open it",
    ),
    (
        "credential-file-0644",
        credentials_folder(0o700, 0o644),
        "/credentials/k3s-token' has mode 0644: secrets must be private",
    ),
    # Parsing
    (
        "hosts-yml-unparsable",
        hosts_text("all:\n  children:\n    k3s_servers:\n      hosts:\n  server-1: {ansible_host: 192.0.2.11\n"),
        "hosts.yml:6:1 cannot be parsed, so Ansible read no hosts from it: YAML parsing failed",
    ),
    (
        "hosts-yml-tab-indent",
        hosts_text("all:\n  children:\n\tk3s_servers:\n"),
        "hosts.yml:3:1 cannot be parsed, so Ansible read no hosts from it: YAML parsing failed",
    ),
    (
        "hosts-yml-a-list",
        hosts_text("- server-1\n- agent-1\n"),
        "hosts.yml is not an inventory: its top level must be a mapping of groups",
    ),
]


def run(inventory: Inventory, ansible_env, tmp_path, *args) -> subprocess.Popen:
    # In a loopback-only namespace: should a mistake slip past validation, the run could not
    # reach the sample's addresses either.
    return subprocess.Popen(
        playbook_command("site.yml", inventory.path, *args, isolated=True),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
    )


def both_runs(inventory, ansible_env, tmp_path):
    """`site.yml --check` and `site.yml --tags hosts`, side by side (one per core)."""
    runs = {
        "--check": run(inventory, ansible_env, tmp_path / "check", "--check"),
        "--tags hosts": run(inventory, ansible_env, tmp_path / "hosts", "--tags", "hosts"),
    }
    results = {}
    for name, process in runs.items():
        out, err = process.communicate(timeout=300)
        results[name] = (process.returncode, out, err)
    return results


def recap_hosts(stdout: str) -> list[str]:
    if "PLAY RECAP" not in stdout:
        return []
    recap = stdout.split("PLAY RECAP", 1)[1]
    return [line.split()[0] for line in recap.splitlines() if "changed=" in line]


@pytest.mark.parametrize(("change", "message"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_mistake_stops_before_any_host(tmp_path, ansible_env, change, message):
    inventory = Inventory(tmp_path)
    change(inventory)
    for name, (code, out, err) in both_runs(inventory, ansible_env, tmp_path).items():
        text = out + err
        assert code != 0, f"{name}: the run passed\n{text}"
        assert message in text, f"{name}: expected message missing\n{text}"
        assert "Traceback" not in text, f"{name}\n{text}"
        assert NO_CONNECTION not in text, f"{name}: a host task ran\n{text}"
        # The validation task failed, and the recap holds localhost alone.
        assert VALIDATION_TASK in out, f"{name}\n{text}"
        assert "no host was contacted" in text, f"{name}\n{text}"
        assert recap_hosts(out) == ["localhost"], f"{name}\n{out}"
        assert "PLAY [Prepare the hosts]" not in out, f"{name}\n{out}"


def test_table_has_enough_mistakes():
    assert len(BROKEN) >= 40
    assert len({case[0] for case in BROKEN}) == len(BROKEN)


def test_the_untouched_copy_passes_and_reaches_the_hosts(tmp_path, ansible_env):
    # The control: the same copy without a mistake gets past validation and then fails on
    # the first host task, loudly, because its connection does not exist.
    inventory = Inventory(tmp_path)
    for name, (code, out, err) in both_runs(inventory, ansible_env, tmp_path).items():
        text = out + err
        assert "no host was contacted" not in text, f"{name}\n{text}"
        assert "PLAY [Prepare the hosts]" in out, f"{name}\n{text}"
        assert NO_CONNECTION in text, f"{name}\n{text}"
        assert code != 0


def test_the_sample_inventory_passes(tmp_path, ansible_env):
    result = subprocess.run(
        ["ansible-playbook", str(REPO / "playbooks" / "validate.yml"), "-i", str(SAMPLE)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: [localhost]" in result.stdout


def test_the_lab_inventory_passes(tmp_path, ansible_env):
    # inventory/lab as `scripts/lab up` writes it: hosts.yml and zz-lab.yml from the
    # script's own functions (write_inventory, write_lab_vars), the sample's group_vars
    # through the lab's committed links.
    checkout = tmp_path / "checkout"
    (checkout / "inventory").mkdir(parents=True)
    shutil.copytree(SAMPLE, checkout / "inventory" / "sample")
    # Only what git tracks: a lab run on this checkout leaves its own credentials and hosts there.
    shutil.copytree(
        REPO / "inventory" / "lab",
        checkout / "inventory" / "lab",
        symlinks=True,
        ignore=shutil.ignore_patterns("credentials", "hosts.yml", "zz-lab.yml"),
    )
    for name in ("apps", "gitops"):
        os.symlink(REPO / name, checkout / name)
    script = (REPO / "scripts" / "lab").read_text()

    def function(name):
        start = script.index(f"\n{name}() {{")
        return script[start : script.index("\n}\n", start) + 3]

    body = "".join(function(name) for name in ("host_block", "ssh_vars", "write_inventory", "write_lab_vars"))
    setup = "\n".join(
        line for line in script.splitlines() if line.startswith(("INVENTORY=", "LAB_VARS=", "RERUN=", "NETWORK="))
    )
    command = (
        setup
        + body
        + 'write_inventory "lab-server-1:10.89.42.11 " "lab-agent-1:10.89.42.21 " "lab-registry-1:10.89.42.30"\n'
        + 'write_lab_vars "$PWD/.cache/lab-bundle" "hosts, registry, preload"\n'
    )
    subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=checkout, check=True)
    lab = checkout / "inventory" / "lab"
    assert (lab / "hosts.yml").exists() and (lab / "group_vars" / "all" / "zz-lab.yml").exists()
    result = subprocess.run(
        ["ansible-playbook", str(REPO / "playbooks" / "validate.yml"), "-i", str(lab)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ansible_env(tmp_path),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
