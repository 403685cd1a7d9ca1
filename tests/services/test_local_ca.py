"""The local CA is constrained to the platform's names, renews its leaves, and keeps its key home
(issue 18 item 10, security review M8).

Role local_ca runs for real through ansible-playbook on the controller (localhost); the checks use
the `cryptography` library's X.509 path validation (cryptography.x509.verification, which
enforces nameConstraints) and `openssl verify`. "A leaked CA key" is simulated by signing with
the CA's key directly.
"""

import datetime
import json
import subprocess
import sys
from pathlib import Path

import loopback_netns
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

REPO = Path(__file__).resolve().parents[2]
NOW = datetime.datetime.now(datetime.UTC)
INVENTORY = {
    "all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "hosts": {"server-1": {"node_ip": "10.77.0.11"}, "registry-1": {"node_ip": "10.77.0.30"}},
    }
}
PLAY = """---
- name: The local CA and two certificates, as the traefik and registry roles ask for them
  hosts: localhost
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: The CA
      ansible.builtin.import_role:
        name: gauntlet.platform.local_ca
    - name: A certificate for a service behind the ingress
      ansible.builtin.include_role:
        name: gauntlet.platform.local_ca
        tasks_from: certificate
      vars:
        local_ca_cert_name: web
        local_ca_cert_dns: "{{ web_names | default(['gitea.local', 'grafana.local']) }}"
    - name: The registry's certificate
      ansible.builtin.include_role:
        name: gauntlet.platform.local_ca
        tasks_from: certificate
      vars:
        local_ca_cert_name: registry
        local_ca_cert_dns: [registry.local]
        local_ca_cert_ips: [10.77.0.30]
"""


def run(tmp_path, ansible_env, **extra):
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(INVENTORY))
    (tmp_path / "play.yml").write_text(PLAY)
    variables = {
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        "gauntlet_cluster_name": "test",
        "local_domains_services": {"gitea": "gitea.local", "grafana": "grafana.local", "registry": "registry.local"},
        **extra,
    }
    return subprocess.run(
        ["ansible-playbook", str(tmp_path / "play.yml"), "-i", str(tmp_path / "hosts.yml"), "-e", json.dumps(variables)],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip


def load(folder, name):
    return x509.load_pem_x509_certificate((folder / name).read_bytes())


def verify(ca, leaf, name):
    """Path validation of `leaf` for `name` (a DNS name or an IP address) against the one CA."""
    import ipaddress

    try:
        subject = x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        subject = x509.DNSName(name)
    now = datetime.datetime.now(datetime.UTC)
    verifier = PolicyBuilder().store(Store([ca])).time(now).build_server_verifier(subject)
    return verifier.verify(leaf, [])


def forge(folder, dns=(), ips=(), days=397, key=None):
    """A leaf signed with the CA's own key, as whoever holds that key could make one."""
    import ipaddress

    ca = load(folder, "ca.crt")
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    key = key or ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (list(dns) + list(ips))[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def issued(tmp_path_factory):
    import os

    tmp_path = tmp_path_factory.mktemp("local-ca")

    def env(path):
        return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")

    result = run(tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path / "credentials/ca"


def test_the_ca_carries_critical_name_constraints_for_the_platform_names_and_node_addresses(issued):
    ca = load(issued, "ca.crt")
    extension = ca.extensions.get_extension_for_class(x509.NameConstraints)
    assert extension.critical is True
    permitted = extension.value.permitted_subtrees
    assert {n.value for n in permitted if isinstance(n, x509.DNSName)} == {"local"}
    assert {str(n.value) for n in permitted if isinstance(n, x509.IPAddress)} == {"10.77.0.11/32", "10.77.0.30/32"}
    assert not extension.value.excluded_subtrees
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0


def test_the_issued_certificates_verify_for_their_names(issued):
    ca = load(issued, "ca.crt")
    verify(ca, load(issued, "web.crt"), "gitea.local")
    verify(ca, load(issued, "registry.crt"), "registry.local")
    verify(ca, load(issued, "registry.crt"), "10.77.0.30")
    web = load(issued, "web.crt")
    assert web.not_valid_after_utc - web.not_valid_before_utc == datetime.timedelta(days=397)


# Inside a namespace of its own with only loopback up: the registry's address on lo, OpenSSL's
# test server presenting the issued certificate, and skopeo asking it for a manifest.
SKOPEO_AGAINST_THE_REGISTRY_CERTIFICATE = """
ip addr add 10.77.0.30/32 dev lo
openssl s_server -quiet -www -accept 10.77.0.30:5000 -cert "$1/registry.crt" -key "$1/registry.key" </dev/null >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do (echo > /dev/tcp/10.77.0.30/5000) 2>/dev/null && break; sleep 0.1; done
skopeo inspect --raw --cert-dir "$2" docker://10.77.0.30:5000/gauntlet/probe:1
status=$?
kill "$server"
exit "$status"
"""


def skopeo_sees(issued, trusted_ca, tmp_path):
    """What skopeo (Debian's, built with Go 1.19, the registry client of the bundle and the tests)
    says when it connects to a server presenting the registry's certificate, trusting `trusted_ca`."""
    loopback_netns.require()
    cert_dir = tmp_path / "certs"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(trusted_ca.read_bytes())
    result = subprocess.run(
        loopback_netns.isolated(["bash", "-c", SKOPEO_AGAINST_THE_REGISTRY_CERTIFICATE, "probe", str(issued), str(cert_dir)]),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_a_go_client_accepts_the_registry_certificate(issued, tmp_path):
    # Go 1.19's verifier checks a constrained CA's own subject alternative names too: a CA whose
    # common name was copied there as a DNS name ("gauntlet local CA") failed every pull with
    # "x509: cannot parse dnsName" (Molecule registry, CI run of 2026-12-04).
    said = skopeo_sees(issued, issued / "ca.crt", tmp_path)
    assert "x509:" not in said, said
    # skopeo --raw prints what the server answered: OpenSSL's status page, reached over verified TLS.
    assert "s_server -quiet -www" in said, said


def test_a_go_client_refuses_the_registry_certificate_under_another_ca(issued, tmp_path):
    # The control case: the same probe fails when the trusted CA is not the one that signed.
    other = tmp_path / "other"
    other.mkdir()
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "another CA")])
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (other / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    said = skopeo_sees(issued, other / "ca.crt", tmp_path)
    assert "x509: certificate signed by unknown authority" in said, said


def test_the_ca_names_nothing_but_itself(issued):
    # No subject alternative name on the CA: its common name is not a DNS name.
    ca = load(issued, "ca.crt")
    assert not [e for e in ca.extensions if isinstance(e.value, x509.SubjectAlternativeName)]


@pytest.mark.parametrize(
    ("dns", "ips", "name"),
    [
        (["bank.example.com"], [], "bank.example.com"),
        (["gitea.local.example.com"], [], "gitea.local.example.com"),
        (["registry.local"], ["10.77.1.30"], "10.77.1.30"),
        ([], ["8.8.8.8"], "8.8.8.8"),
    ],
)
def test_a_leaf_for_an_outside_name_fails_verification_even_signed_with_the_ca_key(issued, tmp_path, dns, ips, name):
    ca = load(issued, "ca.crt")
    leaf = forge(issued, dns=dns, ips=ips)
    with pytest.raises(VerificationError):
        verify(ca, leaf, name)
    # OpenSSL, which curl and Python's ssl on the nodes use through the system store, agrees.
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        ["openssl", "verify", "-CAfile", str(issued / "ca.crt"), str(tmp_path / "leaf.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and "permitted subtree violation" in result.stdout + result.stderr, result


def test_a_leaf_inside_the_constraints_signed_the_same_way_verifies(issued):
    # The control case of the test above: the forged leaves fail because of their names only.
    verify(load(issued, "ca.crt"), forge(issued, dns=["tasks.local"]), "tasks.local")


def test_the_role_refuses_to_issue_outside_names(tmp_path, ansible_env):
    result = run(tmp_path, ansible_env, web_names=["gitea.local", "*.local", "bank.example.com"])
    assert result.returncode != 0
    assert "*.local is a wildcard" in result.stdout, result.stdout
    assert "bank.example.com is outside the CA's DNS domains (local)" in result.stdout
    assert not (tmp_path / "credentials/ca/web.crt").exists()


def test_without_addresses_to_permit_every_address_is_excluded(tmp_path, ansible_env):
    # A CA with DNS constraints only would still sign any IP address (RFC 5280 4.2.1.10).
    result = run(tmp_path, ansible_env, local_ca_permitted_ips=[], web_names=["gitea.local"])
    assert result.returncode != 0 and "10.77.0.30 is outside the CA's networks" in result.stdout, result.stdout
    constraints = load(tmp_path / "credentials/ca", "ca.crt").extensions.get_extension_for_class(x509.NameConstraints)
    assert {str(n.value) for n in constraints.value.excluded_subtrees} == {"0.0.0.0/0", "::/0"}


def test_the_node_network_is_the_permitted_range_when_set(tmp_path, ansible_env):
    result = run(tmp_path, ansible_env, gauntlet_node_network="10.77.0.0/24")
    assert result.returncode == 0, result.stdout + result.stderr
    constraints = load(tmp_path / "credentials/ca", "ca.crt").extensions.get_extension_for_class(x509.NameConstraints)
    assert {str(n.value) for n in constraints.value.permitted_subtrees if isinstance(n, x509.IPAddress)} == {
        "10.77.0.0/24"
    }


def test_a_leaf_close_to_its_end_is_renewed_once_and_then_kept(tmp_path, ansible_env):
    first = run(tmp_path, ansible_env)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = tmp_path / "credentials/ca"
    key = serialization.load_pem_private_key((folder / "web.key").read_bytes(), None)
    expiring = forge(folder, dns=["gitea.local", "grafana.local"], days=10, key=key)
    (folder / "web.crt").write_bytes(expiring.public_bytes(serialization.Encoding.PEM))
    ca_before = (folder / "ca.crt").read_bytes()
    registry_before = (folder / "registry.crt").read_bytes()

    second = run(tmp_path, ansible_env)
    assert second.returncode == 0, second.stdout + second.stderr
    renewed = load(folder, "web.crt")
    assert renewed.serial_number != expiring.serial_number
    assert renewed.not_valid_after_utc - NOW > datetime.timedelta(days=396)
    assert renewed.public_key().public_numbers() == key.public_key().public_numbers()  # same key
    # Nothing else was touched: the CA and the registry's certificate are the same files.
    assert (folder / "ca.crt").read_bytes() == ca_before
    assert (folder / "registry.crt").read_bytes() == registry_before

    third = run(tmp_path, ansible_env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert load(folder, "web.crt").serial_number == renewed.serial_number
    assert "changed=0" in third.stdout.split("PLAY RECAP")[-1], third.stdout


def test_reissue_signs_every_leaf_again_under_the_same_ca_and_check_mode_does_not(tmp_path, ansible_env):
    """local_ca_cert_reissue (playbooks/rotate-certificates.yml): new serial and validity, same key,
    chained to the same CA; in --check the files stay as they are."""
    first = run(tmp_path, ansible_env)
    assert first.returncode == 0, first.stdout + first.stderr
    folder = tmp_path / "credentials/ca"
    before = {name: load(folder, f"{name}.crt") for name in ("web", "registry")}
    ca_before = (folder / "ca.crt").read_bytes()

    checked = subprocess.run(
        [*run_command(tmp_path, reissue=True), "--check"],
        capture_output=True, text=True, cwd=REPO, env=ansible_env(tmp_path), check=False, timeout=300,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert {n: load(folder, f"{n}.crt").serial_number for n in before} == {
        n: c.serial_number for n, c in before.items()
    }

    again = run(tmp_path, ansible_env, local_ca_cert_reissue=True)
    assert again.returncode == 0, again.stdout + again.stderr
    ca = load(folder, "ca.crt")
    assert (folder / "ca.crt").read_bytes() == ca_before
    for name, old in before.items():
        new = load(folder, f"{name}.crt")
        assert new.serial_number != old.serial_number, name
        assert new.not_valid_before_utc >= old.not_valid_before_utc, name
        assert new.public_key().public_numbers() == old.public_key().public_numbers(), name
        assert new.issuer == ca.subject
        verify(ca, new, "registry.local" if name == "registry" else "gitea.local")
    # openssl agrees on the chain
    checked_chain = subprocess.run(
        ["openssl", "verify", "-CAfile", str(folder / "ca.crt"), str(folder / "registry.crt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked_chain.returncode == 0 and ": OK" in checked_chain.stdout, checked_chain.stdout + checked_chain.stderr


def run_command(tmp_path, reissue=False):
    variables = {
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        "gauntlet_cluster_name": "test",
        "local_domains_services": {"gitea": "gitea.local", "grafana": "grafana.local", "registry": "registry.local"},
        "local_ca_cert_reissue": reissue,
    }
    return [
        "ansible-playbook",
        str(tmp_path / "play.yml"),
        "-i",
        str(tmp_path / "hosts.yml"),
        "-e",
        json.dumps(variables),
    ]


# --- The CA key stays on the controller ---------------------------------------------------


def tasks_of(path):
    def walk(items):
        for item in items or []:
            if not isinstance(item, dict):
                continue
            yield item
            for key in ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers"):
                yield from walk(item.get(key))

    return list(walk(yaml.safe_load(path.read_text())))


def test_every_task_that_touches_the_ca_key_runs_on_the_controller():
    files = sorted(REPO.glob("roles/*/tasks/*.yml")) + sorted(REPO.glob("roles/*/handlers/*.yml"))
    files += sorted(REPO.glob("playbooks/*.yml"))
    touching = []
    for path in files:
        for task in tasks_of(path):
            body = {k: v for k, v in task.items() if k not in ("block", "rescue", "always", "tasks")}
            if "ca.key" in json.dumps(body, default=str):
                touching.append((path.relative_to(REPO), task.get("name")))
                assert task.get("delegate_to") == "localhost", (path, task.get("name"))
                assert task.get("become") is False, (path, task.get("name"))
    # The check looked at something: the CA key is created and used in role local_ca.
    assert {str(p) for p, _unused in touching} >= {
        "roles/local_ca/tasks/ca.yml",
        "roles/local_ca/tasks/certificate.yml",
    }
