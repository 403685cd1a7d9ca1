"""What is particular to role linkerd in the rendered platform (issue "Platform services II").

The shared checks (strict validation, images, PodSecurity, secrets) are in
test_platform_render.py; here: the packed charts against the upstream sources, the
identity certificates, the wiring between values, Secrets, Middleware and Ingress, and
the issuer renewal.
"""

import base64
import datetime
import io
import json
import re
import tarfile

import pytest
import yaml
from collection_defaults import pinned_versions
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

VERSION = pinned_versions()["linkerd"]
CHART_VERSION = "20" + VERSION.removeprefix("edge-")
CHARTS = {
    # HelmChart name: (bundle folder under linkerd/<version>/, target namespace, appVersion set)
    "linkerd-crds": ("charts/linkerd-crds", "linkerd", False),
    "linkerd-control-plane": ("charts/linkerd-control-plane", "linkerd", True),
    "linkerd-viz": ("viz/charts/linkerd-viz", "linkerd-viz", True),
    "linkerd-cni": ("charts/linkerd2-cni", "linkerd-cni", True),
}


def find(render, kind, name, namespace=None):
    found = [
        o
        for o in render.objects.values()
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    ]
    assert len(found) == 1, f"{kind} {namespace}/{name}: found {len(found)}"
    return found[0]


def helm_chart(render, name):
    return find(render, "HelmChart", name, "kube-system")


def values(render, name):
    return yaml.safe_load(helm_chart(render, name)["spec"]["valuesContent"])


def archive(render, name):
    data = base64.b64decode(helm_chart(render, name)["spec"]["chartContent"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isreg()}


def credential(render, name):
    return (render.credentials / "linkerd" / name).read_bytes()


def secret_data(secret, key):
    return base64.b64decode(secret["data"][key]).decode()


# --- Objects and components ---------------------------------------------------------


def test_components_and_apply_order(platform_render):
    names = {str(p) for p in platform_render.objects if p.parts[0].startswith("linkerd")}
    assert names == {
        "linkerd-crds/00-namespace-cluster-linkerd.yaml",
        "linkerd-crds/01-helmchart-kube-system-linkerd-crds.yaml",
        "linkerd-crds/02-serviceaccount-linkerd-default.yaml",
        "linkerd-cni/00-namespace-cluster-linkerd-cni.yaml",
        "linkerd-cni/01-helmchart-kube-system-linkerd-cni.yaml",
        # Default deny both ways (docs/security.md, "Egress by namespace"): DNS, the API server.
        "linkerd-cni/02-networkpolicy-linkerd-cni-default-deny.yaml",
        "linkerd-cni/03-networkpolicy-linkerd-cni-allow-dns.yaml",
        "linkerd-cni/04-networkpolicy-linkerd-cni-kubernetes-api.yaml",
        "linkerd-cni/05-serviceaccount-linkerd-cni-default.yaml",
        "linkerd/00-secret-kube-system-linkerd-control-plane-identity.yaml",
        "linkerd/01-helmchart-kube-system-linkerd-control-plane.yaml",
        # NetworkPolicies after the existing objects (docs/security.md, "Network segmentation").
        "linkerd/02-networkpolicy-linkerd-default-deny.yaml",
        "linkerd/03-networkpolicy-linkerd-allow-dns.yaml",
        "linkerd/04-networkpolicy-linkerd-allow-linkerd-control-plane.yaml",
        "linkerd/05-networkpolicy-linkerd-linkerd-control-plane.yaml",
        "linkerd/06-networkpolicy-linkerd-kubernetes-api.yaml",
        "linkerd/07-networkpolicy-linkerd-linkerd-proxy.yaml",
        "linkerd-viz/00-namespace-cluster-linkerd-viz.yaml",
        "linkerd-viz/01-helmchart-kube-system-linkerd-viz.yaml",
        "linkerd-viz/02-networkpolicy-linkerd-viz-default-deny.yaml",
        "linkerd-viz/03-networkpolicy-linkerd-viz-allow-dns.yaml",
        "linkerd-viz/04-networkpolicy-linkerd-viz-allow-linkerd-control-plane.yaml",
        "linkerd-viz/05-networkpolicy-linkerd-viz-web.yaml",
        "linkerd-viz/06-networkpolicy-linkerd-viz-metrics-api.yaml",
        "linkerd-viz/07-networkpolicy-linkerd-viz-tap.yaml",
        "linkerd-viz/08-networkpolicy-linkerd-viz-tap-injector.yaml",
        "linkerd-viz/09-networkpolicy-linkerd-viz-prometheus.yaml",
        "linkerd-viz/10-networkpolicy-linkerd-viz-kubernetes-api.yaml",
        "linkerd-viz/11-networkpolicy-linkerd-viz-admin.yaml",
        "linkerd-viz/12-networkpolicy-linkerd-viz-linkerd-proxy.yaml",
        "linkerd-viz/13-serviceaccount-linkerd-viz-default.yaml",
        "linkerd-dashboard/00-secret-linkerd-viz-linkerd-dashboard-auth.yaml",
        "linkerd-dashboard/01-middleware-linkerd-viz-linkerd-dashboard-auth.yaml",
        "linkerd-dashboard/02-ingress-linkerd-viz-linkerd-dashboard.yaml",
    }


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_helmcharts_validate_against_the_helm_controller_crd(platform_render, render_tools, name):
    chart = helm_chart(platform_render, name)
    render_tools.validate_object(chart)
    assert chart["spec"]["targetNamespace"] == CHARTS[name][1]
    assert not chart["spec"].get("chart") and not chart["spec"].get("repo"), "offline: chartContent only"


def test_namespaces_are_restricted_with_the_cni_plugin_and_labelled_like_linkerd_install(platform_render):
    control = find(platform_render, "Namespace", "linkerd")["metadata"]
    viz = find(platform_render, "Namespace", "linkerd-viz")["metadata"]
    cni = find(platform_render, "Namespace", "linkerd-cni")["metadata"]
    for meta in (control, viz):
        assert meta["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
        assert meta["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    # The CNI DaemonSet mounts the nodes' CNI folders (hostPath): only its namespace is privileged.
    assert cni["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert cni["labels"]["config.linkerd.io/admission-webhooks"] == "disabled"
    assert cni["annotations"]["linkerd.io/inject"] == "disabled"
    assert control["labels"]["config.linkerd.io/admission-webhooks"] == "disabled"
    assert control["labels"]["linkerd.io/is-control-plane"] == "true"
    assert control["annotations"]["linkerd.io/inject"] == "disabled"
    assert viz["labels"]["linkerd.io/extension"] == "viz"


def test_cni_chart_values_point_at_k3s_cni_folders(platform_render, render_tools):
    """k3s's containerd reads CNI config from <data-dir>/agent/etc/cni/net.d and binaries from the
    folder of host-local, <data-dir>/data/cni (k3s pkg/agent/config/config.go, cmd/k3s/main.go);
    the chart's defaults (/etc/cni/net.d, /opt/cni/bin) are not read by k3s."""
    cni = values(platform_render, "linkerd-cni")
    assert cni["destCNINetDir"] == "/var/lib/rancher/k3s/agent/etc/cni/net.d"
    assert cni["destCNIBinDir"] == "/var/lib/rancher/k3s/data/cni"
    upstream = yaml.safe_load(
        render_tools.upstream_path(f"linkerd/{VERSION}/charts/linkerd2-cni/values.yaml").read_text()
    )
    # Every value we set is one the chart has (a typo would be ignored by helm).
    for key in cni:
        assert key in upstream, f"linkerd2-cni has no value {key}"
    image = f"{cni['image']['name']}:{cni['image']['version']}"
    assert image in platform_render.images, "the CNI plugin image is not bundled"
    assert image == f"{upstream['image']['name']}:{upstream['image']['version']}", "not the chart's own version"
    # The control plane's proxy UID is the one the CNI plugin exempts from redirection.
    assert upstream["proxyUID"] == 2102 and "uid" not in values(platform_render, "linkerd-control-plane")["proxy"]
    assert values(platform_render, "linkerd-control-plane")["cniEnabled"] is True


# --- Packed charts ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_content_is_the_upstream_chart_with_partials_vendored(platform_render, render_tools, name):
    folder, _unused, app_version = CHARTS[name]
    source = render_tools.upstream_path(f"linkerd/{VERSION}/{folder}")
    partials = render_tools.upstream_path(f"linkerd/{VERSION}/charts/partials")
    members = archive(platform_render, name)
    # The archive's folder is the chart's name (linkerd2-cni for HelmChart linkerd-cni).
    release, name = name, yaml.safe_load((source / "Chart.yaml").read_text())["name"]
    chart_yaml = yaml.safe_load(members[f"{name}/Chart.yaml"])
    assert chart_yaml["name"] == name
    assert release == name or (release, name) == ("linkerd-cni", "linkerd2-cni")
    assert chart_yaml["version"] == CHART_VERSION
    if app_version:
        assert chart_yaml["appVersion"] == VERSION
    expected = {f"{name}/{p.relative_to(source)}" for p in source.rglob("*") if p.is_file()}
    expected |= {f"{name}/charts/partials/{p.relative_to(partials)}" for p in partials.rglob("*") if p.is_file()}
    assert set(members) == expected
    for member, data in members.items():
        if member == f"{name}/Chart.yaml":
            continue
        if member.startswith(f"{name}/charts/partials/"):
            upstream = partials / member.removeprefix(f"{name}/charts/partials/")
        else:
            upstream = source / member.removeprefix(f"{name}/")
        assert data == upstream.read_bytes(), f"{member} differs from the upstream file"
    # Only the version lines of Chart.yaml change.
    upstream_lines = [
        line
        for line in (source / "Chart.yaml").read_text().splitlines()
        if not line.startswith(("version:", "appVersion:"))
    ]
    packed_lines = [
        line
        for line in members[f"{name}/Chart.yaml"].decode().splitlines()
        if not line.startswith(("version:", "appVersion:"))
    ]
    assert packed_lines == upstream_lines


@pytest.mark.parametrize("name", ["linkerd-control-plane", "linkerd-viz"])
def test_the_version_placeholder_is_set_through_values(platform_render, name):
    assert b"linkerdVersion: linkerdVersionValue" in archive(platform_render, name)[f"{name}/values.yaml"]
    assert values(platform_render, name)["linkerdVersion"] == VERSION


def test_the_crds_chart_leaves_the_gateway_api_to_k3s_in_render_mode(platform_render):
    # Render mode reads no cluster: it renders the documented default
    # (linkerd_gateway_api_render: existing), what k3s 1.34-1.36 has (traefik-crd owns
    # the Gateway API CRDs). Apply mode decides from the cluster (module_utils/k8s/gateway_api).
    assert values(platform_render, "linkerd-crds") == {
        "installGatewayAPI": False,
        "enableHttpRoutes": False,
        "enableTlsRoutes": False,
        "enableTcpRoutes": False,
    }
    # A failed upgrade must not uninstall the CRDs (that would delete every policy object).
    assert helm_chart(platform_render, "linkerd-crds")["spec"]["failurePolicy"] == "retry"
    members = archive(platform_render, "linkerd-crds")
    # The chart still carries its copies, for clusters without any (install).
    assert "linkerd-crds/templates/gateway.networking.k8s.io_httproutes.yaml" in members


# --- Identity certificates ----------------------------------------------------------


@pytest.fixture(scope="module")
def identity(platform_render):
    anchor = x509.load_pem_x509_certificate(credential(platform_render, "trust-anchor.crt"))
    issuer = x509.load_pem_x509_certificate(credential(platform_render, "issuer.crt"))
    issuer_key = load_pem_private_key(credential(platform_render, "issuer.key"), password=None)
    anchor_key = load_pem_private_key(credential(platform_render, "trust-anchor.key"), password=None)
    return anchor, issuer, anchor_key, issuer_key


def _days(cert):
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) / datetime.timedelta(days=1)


def _constraints(cert):
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    return basic, usage


def test_trust_anchor_is_a_p256_root_for_ten_years(identity):
    anchor, _unused, anchor_key, _unused = identity
    assert isinstance(anchor.public_key(), ec.EllipticCurvePublicKey)
    assert anchor.public_key().curve.name == "secp256r1"
    assert anchor_key.public_key().public_numbers() == anchor.public_key().public_numbers()
    assert anchor.issuer == anchor.subject
    assert anchor.subject.rfc4514_string() == "CN=root.linkerd.cluster.local"
    assert 3649 <= _days(anchor) <= 3651
    basic, usage = _constraints(anchor)
    assert basic.critical and basic.value.ca and basic.value.path_length == 1
    assert usage.value.key_cert_sign and usage.value.crl_sign and not usage.value.digital_signature
    anchor.public_key().verify(
        anchor.signature, anchor.tbs_certificate_bytes, ec.ECDSA(anchor.signature_hash_algorithm)
    )


def test_issuer_is_a_p256_intermediate_for_a_year_signed_by_the_anchor(identity):
    anchor, issuer, _unused, issuer_key = identity
    assert issuer.public_key().curve.name == "secp256r1"
    assert issuer_key.public_key().public_numbers() == issuer.public_key().public_numbers()
    assert issuer.subject.rfc4514_string() == "CN=identity.linkerd.cluster.local"
    assert issuer.issuer == anchor.subject
    anchor.public_key().verify(
        issuer.signature, issuer.tbs_certificate_bytes, ec.ECDSA(issuer.signature_hash_algorithm)
    )
    assert 364 <= _days(issuer) <= 366
    assert issuer.not_valid_after_utc < anchor.not_valid_after_utc
    basic, usage = _constraints(issuer)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign


def test_certificate_keys_are_private(platform_render):
    for name in ("trust-anchor.key", "issuer.key"):
        assert (platform_render.credentials / "linkerd" / name).stat().st_mode & 0o777 == 0o600
    assert (platform_render.credentials / "linkerd").stat().st_mode & 0o777 == 0o700


def test_values_carry_the_anchor_and_the_secret_carries_the_issuer(platform_render):
    control = values(platform_render, "linkerd-control-plane")
    assert (
        control["identityTrustAnchorsPEM"].strip() == credential(platform_render, "trust-anchor.crt").decode().strip()
    )
    assert control["identityTrustDomain"] == "cluster.local"
    assert control["identity"]["issuer"]["scheme"] == "linkerd.io/tls"
    assert "tls" not in control["identity"]["issuer"], "the issuer belongs in the values Secret"
    chart = helm_chart(platform_render, "linkerd-control-plane")
    (ref,) = chart["spec"]["valuesSecrets"]
    secret = find(platform_render, "Secret", ref["name"], "kube-system")
    (key,) = ref["keys"]
    issuer_values = yaml.safe_load(secret_data(secret, key))
    tls = issuer_values["identity"]["issuer"]["tls"]
    assert tls["crtPEM"].strip() == credential(platform_render, "issuer.crt").decode().strip()
    assert tls["keyPEM"].strip() == credential(platform_render, "issuer.key").decode().strip()


def test_the_issuer_key_appears_only_in_secrets(platform_render):
    key_body = "".join(credential(platform_render, "issuer.key").decode().strip().splitlines()[1:-1])
    anchor_key_body = "".join(credential(platform_render, "trust-anchor.key").decode().strip().splitlines()[1:-1])
    for path, obj in platform_render.objects.items():
        text = re.sub(r"\s|\\n", "", json.dumps(obj))
        assert anchor_key_body not in text, f"{path}: the trust anchor key must never leave the controller"
        if obj["kind"] != "Secret":
            assert key_body not in text, f"{path}: the issuer key outside a Secret"


# --- Images -------------------------------------------------------------------------


def _value_images(control, viz):
    images = {
        f"{control['proxy']['image']['name']}:{control['proxy']['image']['version']}",
        f"{control['controllerImage']}:{control['controllerImageVersion']}",
    }
    for key in ("metricsAPI", "tap", "tapInjector", "dashboard", "namespaceMetadata", "prometheus"):
        image = viz[key]["image"]
        images.add(f"{image['registry']}/{image['name']}:{image['tag']}")
    return images


def test_every_image_named_in_the_values_is_bundled(platform_render):
    control = values(platform_render, "linkerd-control-plane")
    viz = values(platform_render, "linkerd-viz")
    images = _value_images(control, viz)
    assert images == {
        f"cr.l5d.io/linkerd/proxy:{VERSION}",
        f"cr.l5d.io/linkerd/controller:{VERSION}",
        f"cr.l5d.io/linkerd/metrics-api:{VERSION}",
        f"cr.l5d.io/linkerd/tap:{VERSION}",
        f"cr.l5d.io/linkerd/web:{VERSION}",
        "cr.l5d.io/linkerd/extension-init:v0.1.12",
        "docker.io/prom/prometheus:v2.55.1",
    }
    missing = images - set(platform_render.images)
    assert not missing, f"images in the chart values but not in gauntlet_bundle_images: {sorted(missing)}"
    # Anything else in the values that looks like an image must be one of them too.
    text = yaml.safe_dump([control, viz])
    for ref in re.findall(r"\b(?:cr\.l5d\.io|docker\.io|ghcr\.io|quay\.io)/[\w./-]+:[\w.-]+", text):
        assert ref in images, ref


def test_native_sidecars_no_heartbeat_and_no_spare_capabilities(platform_render):
    control = values(platform_render, "linkerd-control-plane")
    assert control["proxy"]["nativeSidecar"] is True
    assert control["disableHeartBeat"] is True
    assert control["controllerReplicas"] == 1
    assert control["proxy"]["capabilities"] == {"drop": ["ALL"]}
    # CNI mode: no proxy-init container is injected, so nothing to configure for it.
    assert control["cniEnabled"] is True and "proxyInit" not in control


# --- Viz and the dashboard ----------------------------------------------------------


def test_viz_runs_its_own_prometheus_unless_told_otherwise(platform_render):
    viz = values(platform_render, "linkerd-viz")
    assert viz["prometheus"]["enabled"] is True
    assert viz["prometheusUrl"] == ""
    assert viz["linkerdNamespace"] == "linkerd"


def test_web_accepts_the_dashboard_host_only(platform_render):
    pattern = re.compile(values(platform_render, "linkerd-viz")["dashboard"]["enforcedHostRegexp"])
    host = platform_render.domains["linkerd"]
    for ok in (host, f"{host}:443", "localhost:8084", "web.linkerd-viz.svc.cluster.local:8084", "[::1]:8084"):
        assert pattern.match(ok), ok
    for bad in (f"evil{host}", f"{host}.evil.example", "gitea.local", f"{host.replace('.', 'x')}"):
        assert not pattern.match(bad), bad


def test_dashboard_ingress_middleware_and_secret_line_up(platform_render):
    host = platform_render.domains["linkerd"]
    ingress = find(platform_render, "Ingress", "linkerd-dashboard", "linkerd-viz")
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == host and ingress["spec"]["tls"] == [{"hosts": [host]}]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "web", "port": {"number": 8084}}
    annotations = ingress["metadata"]["annotations"]
    assert annotations["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"
    middleware_ref = annotations["traefik.ingress.kubernetes.io/router.middlewares"]
    middleware = find(platform_render, "Middleware", "linkerd-dashboard-auth", "linkerd-viz")
    assert middleware["apiVersion"] == "traefik.io/v1alpha1"
    assert middleware_ref == "linkerd-viz-linkerd-dashboard-auth@kubernetescrd"
    # No Traefik CRD in ../shared/upstream: check the fields Traefik's basicAuth knows.
    assert set(middleware["spec"]) == {"basicAuth"}
    assert set(middleware["spec"]["basicAuth"]) <= {"secret", "realm", "removeHeader", "headerField"}
    assert middleware["spec"]["basicAuth"]["removeHeader"] is True
    secret = find(platform_render, "Secret", middleware["spec"]["basicAuth"]["secret"], "linkerd-viz")
    assert set(secret["data"]) == {"users"}


def test_dashboard_password_is_the_credential_as_a_stable_bcrypt_hash(platform_render):
    from passlib.hash import bcrypt

    secret = find(platform_render, "Secret", "linkerd-dashboard-auth", "linkerd-viz")
    (line,) = secret_data(secret, "users").splitlines()
    user, hashed = line.split(":", 1)
    assert user == "admin"
    assert hashed.startswith("$2y$")
    password = credential(platform_render, "dashboard-password").decode().strip()
    assert len(password) >= 32
    assert bcrypt.verify(password, hashed)
    assert not bcrypt.verify(password + "x", hashed)
    salt = credential(platform_render, "dashboard-password-salt").decode().strip()
    assert hashed[7:28] == salt[:21], "the hash must use the stored salt (stable across runs)"


# --- Issuer renewal -----------------------------------------------------------------

CERTIFICATES_PLAYBOOK = """---
- name: Run the linkerd certificates step alone
  hosts: localhost
  become: false
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Certificates
      ansible.builtin.include_role:
        name: gauntlet.platform.linkerd
        tasks_from: certificates
"""


def test_issuer_is_kept_then_renewed_only_within_the_renewal_window(tmp_path, render_tools):
    playbook = tmp_path / "certificates.yml"
    playbook.write_text(CERTIFICATES_PLAYBOOK)
    folder = tmp_path / "credentials" / "linkerd"

    def run(renew_days):
        extra = {"gauntlet_credentials_dir": str(tmp_path / "credentials"), "linkerd_issuer_renew_days": renew_days}
        result = render_tools.run_playbook(playbook, "-e", json.dumps(extra))
        assert result.returncode == 0, result.stdout + result.stderr
        return {p.name: p.read_bytes() for p in folder.iterdir()}, result.stdout

    first, _unused = run(90)
    second, stdout = run(90)
    assert second == first
    assert re.search(r"changed=0\b", stdout)
    # An issuer valid for 365 days expires "within 400 days": re-signed, same key, same anchor.
    renewed, _unused = run(400)
    assert renewed["issuer.crt"] != first["issuer.crt"]
    for name in ("issuer.key", "trust-anchor.crt", "trust-anchor.key"):
        assert renewed[name] == first[name], name
    anchor = x509.load_pem_x509_certificate(renewed["trust-anchor.crt"])
    issuer = x509.load_pem_x509_certificate(renewed["issuer.crt"])
    anchor.public_key().verify(
        issuer.signature, issuer.tbs_certificate_bytes, ec.ECDSA(issuer.signature_hash_algorithm)
    )
    # A new trust anchor (rotation): the issuer is re-signed by it, keeping its key.
    for name in ("trust-anchor.crt", "trust-anchor.key"):
        (folder / name).unlink()
    rotated, _unused = run(90)
    assert rotated["trust-anchor.crt"] != renewed["trust-anchor.crt"]
    assert rotated["issuer.crt"] != renewed["issuer.crt"] and rotated["issuer.key"] == renewed["issuer.key"]
    anchor = x509.load_pem_x509_certificate(rotated["trust-anchor.crt"])
    issuer = x509.load_pem_x509_certificate(rotated["issuer.crt"])
    anchor.public_key().verify(
        issuer.signature, issuer.tbs_certificate_bytes, ec.ECDSA(issuer.signature_hash_algorithm)
    )


def test_run_stops_when_the_trust_anchor_is_about_to_expire(tmp_path, render_tools):
    playbook = tmp_path / "certificates.yml"
    playbook.write_text(CERTIFICATES_PLAYBOOK)
    extra = {"gauntlet_credentials_dir": str(tmp_path / "credentials"), "linkerd_issuer_renew_days": 4000}
    result = render_tools.run_playbook(playbook, "-e", json.dumps(extra))
    assert result.returncode != 0
    assert "trust anchor" in result.stdout and "docs/linkerd.md" in result.stdout
