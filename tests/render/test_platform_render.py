"""Checks every platform role's rendered objects must pass (issues "Platform services I/II").

playbooks/platform.yml runs for real in render mode from inventory/sample, reading the
upstream manifests through a bundle made of ../shared/upstream; each role's own test
module checks what is particular to it.
"""

import base64
import re

import pytest
import upstream
import yaml
from pod_security import pod_spec_of, restricted_violations

COMPONENTS = {"cnpg", "keycloak", "gitea", "drone", "argocd", "linkerd", "monitoring"}
# Passwords a reviewer would call default: none may be the value of any Secret key.
DEFAULT_PASSWORDS = {"admin", "password", "changeme", "secret", "gitea", "drone", "keycloak", "argocd", "grafana",
                     "prom-operator", "postgres", "root", "123456", "test"}  # fmt: skip


def objects_of(render):
    return list(render.objects.items())


def test_pinned_sha256_match_the_upstream_copies(platform_render):
    pinned = {n: e for n, e in platform_render.bundle_entries.items() if e.get("sha256")}
    # Test doubles stand in for inputs the shared folder lacks (upstream.NOT_IN_SHARED).
    linked = [n for n in pinned if (platform_render.bundle / "files" / n).exists() and not upstream.gap(n)]
    assert linked, "no pinned bundle file has an upstream copy"
    for name in linked:
        actual = __import__("hashlib").sha256((platform_render.bundle / "files" / name).read_bytes()).hexdigest()
        assert actual == pinned[name]["sha256"], f"{name}: pinned sha256 differs from the upstream file"


def test_every_component_renders(platform_render):
    assert {path.parts[0] for path in platform_render.first} >= COMPONENTS


def test_second_render_is_byte_identical_and_unchanged(platform_render):
    out = platform_render.dir
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.yaml"))} == platform_render.first
    recap = re.findall(r"^(\S+)\s*: ok=\d+\s+changed=(\d+)", platform_render.second_stdout, re.M)
    assert recap and all(changed == "0" for _unused, changed in recap), platform_render.second_stdout[-3000:]


def test_every_object_validates_strictly(platform_render, render_tools):
    for path, obj in objects_of(platform_render):
        try:
            render_tools.validate_object(obj)
        except Exception as exc:
            pytest.fail(f"{path}: {exc}")


def test_every_image_is_in_the_computed_list(platform_render):
    from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_list import images_from_manifests

    listed = set(platform_render.images)
    for path, obj in objects_of(platform_render):
        missing = set(images_from_manifests([obj])) - listed
        assert not missing, f"{path}: images not in gauntlet_bundle_images: {sorted(missing)}"


def test_every_ingress_host_is_a_configured_domain(platform_render):
    domains = set(platform_render.domains.values())
    ingresses = [(p, o) for p, o in objects_of(platform_render) if o["kind"] == "Ingress"]
    assert ingresses
    for path, ingress in ingresses:
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        hosts |= {h for tls in ingress["spec"].get("tls", []) for h in tls["hosts"]}
        assert hosts <= domains, f"{path}: hosts {sorted(hosts - domains)} are not in local_domains_services"
        assert ingress["spec"].get("tls"), f"{path}: no TLS"


# Keys that name things rather than hold secrets (a repository user name, a Secret type).
NOT_SECRET_KEYS = {"username", "user", "admin-user", "name", "type", "url", "project"}


def _secret_values(secret):
    for key, value in (secret.get("data") or {}).items():
        if key not in NOT_SECRET_KEYS:
            yield base64.b64decode(value).decode("utf-8", "replace")
    yield from (v for k, v in (secret.get("stringData") or {}).items() if k not in NOT_SECRET_KEYS)


def test_no_default_password_in_any_secret(platform_render):
    for path, obj in objects_of(platform_render):
        if obj["kind"] == "Secret":
            for value in _secret_values(obj):
                assert value.strip().lower() not in DEFAULT_PASSWORDS, f"{path}: a default password"


def test_generated_secrets_appear_only_in_secrets(platform_render):
    secrets = [p.read_text().strip() for p in platform_render.credentials.rglob("*") if p.is_file()]
    secrets = [s for s in secrets if len(s) >= 16 and "\n" not in s]
    assert secrets, "no generated secret in the credentials folder"
    for path, obj in objects_of(platform_render):
        if obj["kind"] == "Secret":
            continue
        text = yaml.safe_dump(obj)
        for secret in secrets:
            assert secret not in text, f"{path}: a generated secret appears in plain text outside a Secret"


def test_credentials_are_private(platform_render):
    for path in platform_render.credentials.rglob("*"):
        mode = path.stat().st_mode & 0o777
        if path.is_file() and not path.name.endswith(".crt"):
            assert mode & 0o077 == 0, f"{path} has mode {mode:o}"


EXEMPTION = "gauntlet.dev/pod-security-exemption"


def test_workloads_pass_pod_security_restricted_or_say_why(platform_render):
    """Every workload's own pod spec passes `restricted`, whatever its namespace enforces.

    (Which level each namespace enforces, and that its pods pass it, is
    test_pod_security_render.py's.) A workload upstream cannot run restricted
    carries the annotation EXEMPTION with the reason, and its namespace must not enforce
    `restricted` (or the pod would be refused).
    """
    levels = {"kube-system": "privileged"}
    for _unused, obj in objects_of(platform_render):
        if obj["kind"] == "Namespace":
            levels[obj["metadata"]["name"]] = obj["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    checked = 0
    for path, obj in objects_of(platform_render):
        pod = pod_spec_of(obj)
        if pod is None:
            continue
        namespace = obj["metadata"].get("namespace")
        assert namespace in levels, f"{path}: namespace {namespace} is not created with PodSecurity labels"
        reason = (obj["metadata"].get("annotations") or {}).get(EXEMPTION)
        if reason:
            assert len(reason) > 20, f"{path}: say why in {EXEMPTION}"
            assert levels[namespace] != "restricted", f"{path}: exempted but {namespace} enforces restricted"
        else:
            checked += 1
            assert restricted_violations(pod) == [], f"{path}: fails PodSecurity restricted"
    assert checked, "no workload was checked"
