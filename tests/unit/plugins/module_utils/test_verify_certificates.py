"""The certificates rows, on real certificates this test writes (cryptography), read by the real
module code (certificate_expiry_info) from files on the controller and through ansible on localhost.

The hosts here are the controller itself: what the podman hosts would add is only the become and
SSH path of one module call, which every other host-side check already exercises."""

from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.verify import certificates as vc
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.rows import VerifyInputError
from ansible_collections.gauntlet.platform.plugins.module_utils.verify.x509_validity import (
    CertificateError,
    first_pem_certificate,
)
from ansible_collections.gauntlet.platform.plugins.modules.certificate_expiry_info import read_certificates
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[4]
NOW = datetime.datetime(2027, 3, 1, 12, 0, tzinfo=datetime.UTC)
K3S = "/var/lib/rancher/k3s"


def pem(common_name: str, not_after: datetime.datetime, *, chain: bytes = b"") -> bytes:
    """A real self-signed certificate valid until ``not_after`` (a k3s file may append its CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "k3s"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - datetime.timedelta(days=365))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM) + chain


def write_tree(root: Path) -> dict[str, Path]:
    """k3s's layout (server/tls, server/tls/etcd, agent) and the registry's tls.crt under ``root``."""
    files = {
        "server/tls/client-admin.crt": pem("system:admin", NOW + datetime.timedelta(days=10)),
        "server/tls/serving-kube-apiserver.crt": pem(
            "kube-apiserver",
            NOW + datetime.timedelta(days=200),
            chain=pem("k3s-server-ca@1", NOW + datetime.timedelta(days=3000)),
        ),
        "server/tls/server-ca.crt": pem("k3s-server-ca@1", NOW + datetime.timedelta(days=20)),
        "server/tls/etcd/client.crt": pem("etcd-client", NOW - datetime.timedelta(days=2)),
        "agent/client-kubelet.crt": pem("system:node:server-1", NOW + datetime.timedelta(days=300)),
        "registry/tls.crt": pem("registry.local", NOW + datetime.timedelta(days=5)),
    }
    out = {}
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out[rel] = path
    return out


def test_the_parser_reads_what_cryptography_wrote():
    for when in (NOW, datetime.datetime(2051, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)):  # UTCTime, GeneralizedTime
        cert = first_pem_certificate(pem("kube-apiserver", when))
        assert cert["not_after"] == when and cert["subject"] == "kube-apiserver"
        assert cert["not_before"] == when - datetime.timedelta(days=365)
    with pytest.raises(CertificateError, match="no PEM certificate"):
        first_pem_certificate(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(CertificateError):
        first_pem_certificate(b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")


def test_one_call_reads_every_file_and_names_what_it_cannot(tmp_path):
    files = write_tree(tmp_path)
    (tmp_path / "server/tls/broken.crt").write_text("not a certificate")
    result = read_certificates(
        [
            f"{tmp_path}/server/tls/*.crt",
            f"{tmp_path}/server/tls/etcd/*.crt",
            f"{tmp_path}/agent/*.crt",
            f"{tmp_path}/none/*.crt",
            str(files["registry/tls.crt"]),
        ]
    )
    assert [Path(c["path"]).relative_to(tmp_path).as_posix() for c in result["certificates"]] == sorted(
        [
            "agent/client-kubelet.crt",
            "registry/tls.crt",
            "server/tls/client-admin.crt",
            "server/tls/etcd/client.crt",
            "server/tls/server-ca.crt",
            "server/tls/serving-kube-apiserver.crt",
        ]
    )
    apiserver = next(c for c in result["certificates"] if c["path"].endswith("serving-kube-apiserver.crt"))
    assert apiserver["subject"] == "kube-apiserver"  # the leaf, not the CA appended after it
    assert apiserver["not_after"] == (NOW + datetime.timedelta(days=200)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["errors"] == [
        {"path": f"{tmp_path}/server/tls/broken.crt", "msg": "no PEM certificate (-----BEGIN CERTIFICATE-----) in it"}
    ]
    assert result["unmatched"] == [f"{tmp_path}/none/*.crt"]


def test_rows_name_each_certificate_host_date_and_renewal(tmp_path):
    write_tree(tmp_path)
    k3s_dir = str(tmp_path)
    server = read_certificates(
        [f"{tmp_path}/server/tls/*.crt", f"{tmp_path}/server/tls/etcd/*.crt", f"{tmp_path}/agent/*.crt"]
    )
    agent = read_certificates([f"{tmp_path}/agent/*.crt"])
    registry = read_certificates([f"{tmp_path}/registry/tls.crt"])
    # the registry file lies outside k3s_dir in real life: here it is under tmp_path, so give k3s its own dir
    rows = vc.hosts_rows({"server-1": server, "agent-1": agent}, 30, k3s_dir, ["server-1"], now=NOW)
    assert [(r["target"], r["result"]) for r in rows] == [("host agent-1", "OK"), ("host server-1", "FAIL")]
    assert rows[0]["detail"][0].startswith("1 certificates, at least 30 days left each; the first to end:")
    detail = rows[1]["detail"]
    assert detail[0] == "3 problem(s) among 5 certificates"
    assert detail[1] == (
        f"{tmp_path}/server/tls/client-admin.crt (system:admin): ends 2027-03-11 12:00 UTC (10 days left, less than 30); "
        + vc.RENEW_K3S_SERVER
    )
    assert (
        detail[2]
        == f"{tmp_path}/server/tls/etcd/client.crt (etcd-client): ends 2027-02-27 12:00 UTC (EXPIRED 2 days ago); {vc.RENEW_K3S_SERVER}"
    )
    assert detail[3].endswith(f"(20 days left, less than 30); {vc.RENEW_K3S_CA}")
    assert "k3s certificate rotate" in vc.RENEW_K3S_SERVER
    (registry_row,) = vc.hosts_rows({"registry-1": registry}, 30, "/var/lib/rancher/k3s", ["server-1"], now=NOW)
    assert registry_row["result"] == "FAIL"
    assert registry_row["detail"][1].endswith(f"(5 days left, less than 30); {vc.RENEW_REGISTRY}")
    # an agent's own certificate gets the agent's advice
    short = {
        "certificates": [
            {"path": f"{K3S}/agent/client-kubelet.crt", "subject": "", "not_after": "2027-03-05T00:00:00Z"}
        ]
    }
    (agent_row,) = vc.hosts_rows({"agent-2": short}, 30, K3S, ["server-1"], now=NOW)
    assert agent_row["detail"][1].endswith(vc.RENEW_K3S_AGENT)
    # the threshold decides
    assert vc.hosts_rows({"registry-1": registry}, 5, K3S, now=NOW)[0]["result"] == "OK"


def test_an_unreachable_host_and_bad_input(tmp_path):
    row = vc.host_row(
        {"unreachable": True, "msg": "ssh: connect to host 192.168.56.21 port 22: No route"}, "agent-1", 30, now=NOW
    )
    assert row["result"] == "FAIL" and row["detail"][0].startswith("not checked: host unreachable: ssh")
    assert vc.host_row({}, "agent-1", 30, now=NOW)["detail"] == ["not checked: the check did not run"]
    with pytest.raises(VerifyInputError, match="at least 1"):
        vc.host_row({"certificates": []}, "x", 0)
    with pytest.raises(VerifyInputError, match="not_after"):
        vc.host_row({"certificates": [{"path": "/x", "not_after": "tomorrow"}]}, "x", 30)


def secret(data: bytes | None, name="gauntlet-default-tls"):
    resources = (
        []
        if data is None
        else [
            {
                "metadata": {"namespace": "kube-system", "name": name},
                "data": {"tls.crt": base64.b64encode(data).decode()},
            }
        ]
    )
    return {"resources": resources}


def test_traefik_secret_row():
    ok = vc.secret_row(secret(pem("*.local", NOW + datetime.timedelta(days=300))), 30, now=NOW)
    assert ok == {
        "check": "certificates",
        "target": "secret kube-system/gauntlet-default-tls",
        "result": "OK",
        "detail": ["tls.crt (*.local) ends 2027-12-26 (300 days left)"],
    }
    soon = vc.secret_row(secret(pem("gitea.local", NOW + datetime.timedelta(days=3))), 30, now=NOW)
    assert soon["result"] == "FAIL" and soon["detail"] == [
        f"tls.crt (gitea.local): ends 2027-03-04 12:00 UTC (3 days left, less than 30); {vc.RENEW_TRAEFIK}"
    ]
    missing = vc.secret_row(secret(None), 30, now=NOW)
    assert missing["result"] == "FAIL" and "playbooks/platform.yml --tags traefik" in missing["detail"][0]
    garbage = vc.secret_row(secret(b"nope"), 30, now=NOW)
    assert garbage["result"] == "FAIL" and garbage["detail"][0].startswith("tls.crt is not a certificate")


def test_through_ansible_on_localhost(tmp_path):
    """The module as Ansible runs it (AnsiballZ, its module_utils shipped with it)."""
    write_tree(tmp_path)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    args = json.dumps({"paths": [f"{tmp_path}/server/tls/*.crt", f"{tmp_path}/nothing.crt"]})
    run = subprocess.run(
        ["ansible", "localhost", "-m", "gauntlet.platform.certificate_expiry_info", "-a", args, "-o"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.split("=>", 1)[1])
    assert result["changed"] is False
    assert len(result["certificates"]) == 3 and result["unmatched"] == [f"{tmp_path}/nothing.crt"]
    empty = subprocess.run(
        [
            "ansible",
            "localhost",
            "-m",
            "gauntlet.platform.certificate_expiry_info",
            "-a",
            json.dumps({"paths": []}),
            "-o",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
        check=False,
    )
    assert empty.returncode != 0 and "paths is empty" in empty.stdout
