"""Render the cluster objects of the k3s stage (coredns-custom, Traefik) and validate them.

The roles run for real through ansible-playbook in render mode (gauntlet_render_dir): no host
and no cluster is contacted. A second render must be byte-identical.
"""

import base64
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from upstream import path as upstream_path

REPO = Path(__file__).resolve().parents[2]
GROUP_VARS = REPO / "inventory/sample/group_vars/all"
SERVICES = yaml.safe_load((GROUP_VARS / "domains.yml").read_text())["local_domains_services"]
INGRESS = "192.168.56.11"  # first server of inventory/sample
REGISTRY = "192.168.56.30"

PLAYBOOK = """---
- name: Render the k3s stage's cluster objects
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - gauntlet.platform.coredns_custom
    - gauntlet.platform.traefik
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, render_tools):
    run_playbook = render_tools.run_playbook
    work = tmp_path_factory.mktemp("render")
    playbook = work / "render.yml"
    playbook.write_text(PLAYBOOK)
    out = work / "out"
    args = ["-e", f"gauntlet_render_dir={out}", "-e", f"gauntlet_credentials_dir={work / 'credentials'}"]
    first = run_playbook(playbook, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    snapshot = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.yaml"))}
    second = run_playbook(playbook, *args)
    assert second.returncode == 0, second.stdout + second.stderr
    return {"dir": out, "work": work, "first": snapshot, "second_stdout": second.stdout, "run": run_playbook}


def load(rendered, relative):
    return yaml.safe_load((rendered["dir"] / relative).read_text())


def test_files_are_named_per_component_and_order(rendered):
    assert sorted(str(p) for p in rendered["first"]) == [
        "coredns-custom/00-configmap-kube-system-coredns-custom.yaml",
        "traefik/00-secret-kube-system-gauntlet-default-tls.yaml",
        "traefik/01-helmchartconfig-kube-system-traefik.yaml",
        # The Ingress host policy (tests/render/test_ingress_host_policy.py).
        "traefik/02-validatingadmissionpolicy-cluster-gauntlet-ingress-hosts.yaml",
        "traefik/03-validatingadmissionpolicybinding-cluster-gauntlet-ingress-hosts.yaml",
    ]


def test_second_render_is_byte_identical_and_unchanged(rendered):
    out = rendered["dir"]
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.yaml"))} == rendered["first"]
    assert re.search(r"localhost\s*: ok=\d+\s+changed=0", rendered["second_stdout"]), rendered["second_stdout"]


def test_every_object_validates_strictly(rendered, render_tools):
    assert render_tools.k8s_version == "1.36.0"
    for path in sorted(rendered["dir"].rglob("*.yaml")):
        render_tools.validate_object(yaml.safe_load(path.read_text()))


def test_coredns_custom_matches_what_k3s_mounts(rendered):
    config_map = load(rendered, "coredns-custom/00-configmap-kube-system-coredns-custom.yaml")
    upstream = upstream_path("k3s/commit-66c487b/manifests/coredns.yaml").read_text()
    assert "name: coredns-custom" in upstream and "import /etc/coredns/custom/*.server" in upstream
    assert config_map["metadata"] == {
        "name": "coredns-custom",
        "namespace": "kube-system",
        "labels": {"app.kubernetes.io/managed-by": "gauntlet"},
    }
    (key,) = config_map["data"]
    assert key.endswith(".server")
    block = config_map["data"][key]
    ingress_names = sorted(d for s, d in SERVICES.items() if s != "registry")
    assert f"        {INGRESS} {' '.join(ingress_names)}\n" in block
    assert f"        {REGISTRY} {SERVICES['registry']}\n" in block
    header = next(line for line in block.splitlines() if line.endswith("{") and not line.startswith(" "))
    assert header.split()[:-1] == sorted(f"{d}:53" for d in SERVICES.values())
    assert block.count("{") == block.count("}")


def test_a_domain_change_changes_the_configmap(rendered, tmp_path):
    playbook = rendered["work"] / "render.yml"
    result = rendered["run"](
        playbook,
        "-e",
        f"gauntlet_render_dir={tmp_path}",
        "-e",
        f"gauntlet_credentials_dir={rendered['work'] / 'credentials'}",
        "-e",
        '{"local_domains_services": {"gitea": "git.example.local", "registry": "registry.local"}}',
    )
    assert result.returncode == 0, result.stdout + result.stderr
    block = next(iter(yaml.safe_load(next(tmp_path.glob("coredns-custom/*.yaml")).read_text())["data"].values()))
    assert f"{INGRESS} git.example.local\n" in block and "gitea.local" not in block


def test_an_ingress_vip_is_what_pods_resolve_the_domains_to(rendered, tmp_path):
    # HA (docs/k3s.md#high-availability): with gauntlet_ingress_address set to a VIP, CoreDNS
    # answers every ingress domain with the VIP; the registry keeps its own host's address.
    playbook = rendered["work"] / "render.yml"
    result = rendered["run"](
        playbook,
        "-e",
        f"gauntlet_render_dir={tmp_path}",
        "-e",
        f"gauntlet_credentials_dir={rendered['work'] / 'credentials'}",
        "-e",
        "gauntlet_ingress_address=192.168.56.100",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    block = next(iter(yaml.safe_load(next(tmp_path.glob("coredns-custom/*.yaml")).read_text())["data"].values()))
    ingress_names = sorted(name for service, name in SERVICES.items() if service != "registry")
    assert f"        192.168.56.100 {' '.join(ingress_names)}\n" in block
    assert f"        {REGISTRY} registry.local\n" in block
    assert f"{INGRESS} " not in block


def test_traefik_values(rendered):
    config = load(rendered, "traefik/01-helmchartconfig-kube-system-traefik.yaml")
    values = yaml.safe_load(config["spec"]["valuesContent"])
    assert values["logs"]["access"] == {"enabled": True, "format": "json"}
    assert values["metrics"]["prometheus"]["service"]["enabled"] is True
    assert values["ports"]["web"]["http"]["redirections"]["entryPoint"]["to"] == "websecure"
    assert values["tlsOptions"]["default"]["minVersion"] == "VersionTLS12"
    assert values["tlsStore"]["default"]["defaultCertificate"]["secretName"] == "gauntlet-default-tls"


def test_default_certificate_is_signed_by_the_local_ca_for_every_domain(rendered, tmp_path):
    secret = load(rendered, "traefik/00-secret-kube-system-gauntlet-default-tls.yaml")
    assert secret["type"] == "kubernetes.io/tls"
    assert (rendered["dir"] / "traefik/00-secret-kube-system-gauntlet-default-tls.yaml").stat().st_mode & 0o077 == 0
    cert = tmp_path / "tls.crt"
    cert.write_bytes(base64.b64decode(secret["data"]["tls.crt"]))
    ca = rendered["work"] / "credentials/ca/ca.crt"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True, text=True, check=False
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(cert)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {item.strip() for item in text.split("\n", 1)[1].split(",")}
    # Every domain Traefik serves, each by its exact name; the registry (served by its own host
    # with its own certificate) is not on it, and no wildcard covers it either.
    assert names == {f"DNS:{domain}" for service, domain in SERVICES.items() if service != "registry"}
    assert not any("*" in name for name in names)
    # Keys are private; certificates are public (nodes install the CA to trust it).
    for name, mode in (
        ("ca.key", 0o600),
        ("traefik-default.key", 0o600),
        ("ca.crt", 0o644),
        ("traefik-default.crt", 0o644),
    ):
        assert (rendered["work"] / "credentials/ca" / name).stat().st_mode & 0o777 == mode


def test_credentials_are_generated_once(rendered):
    ca = (rendered["work"] / "credentials/ca/ca.crt").read_bytes()
    again = rendered["run"](
        rendered["work"] / "render.yml",
        "-e",
        f"gauntlet_render_dir={rendered['dir']}",
        "-e",
        f"gauntlet_credentials_dir={rendered['work'] / 'credentials'}",
    )
    assert again.returncode == 0
    assert (rendered["work"] / "credentials/ca/ca.crt").read_bytes() == ca


def test_stale_files_are_removed(rendered, tmp_path):
    stale = Path(rendered["dir"]) / "traefik" / "09-configmap-kube-system-old.yaml"
    stale.write_text("{}\n")
    result = rendered["run"](
        rendered["work"] / "render.yml",
        "-e",
        f"gauntlet_render_dir={rendered['dir']}",
        "-e",
        f"gauntlet_credentials_dir={rendered['work'] / 'credentials'}",
    )
    assert result.returncode == 0
    assert not stale.exists()
