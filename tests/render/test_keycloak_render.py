"""What the keycloak role renders: Keycloak as a plain workload on its CloudNativePG
database, its Service, Ingress and ServiceMonitor, wired to the credentials and to the
contracts other roles and the Task API rely on.

Uses the shared `platform_render` fixture; variants run the role alone.
"""

import base64
import json
from pathlib import Path

import pytest
import yaml
from collection_defaults import collection_defaults, pinned_versions
from pod_security import pod_spec_of, restricted_violations

REPO = Path(__file__).resolve().parents[2]
KEYCLOAK_VERSION = pinned_versions()["keycloak"]
IMAGE = f"quay.io/keycloak/keycloak:{KEYCLOAK_VERSION}"
NS = "keycloak"
ROLE_ONLY = """---
- name: Render the keycloak role alone
  hosts: localhost
  become: false
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - gauntlet.platform.keycloak
"""


def objects_of(objects, folder="keycloak"):
    return [o for p, o in sorted(objects.items()) if p.parts[0] == folder]


def find(objects, kind, name, namespace=NS):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    found = [o for o in found if o["metadata"].get("namespace") == namespace]
    assert len(found) == 1, f"expected one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def secret_value(secret, key):
    return base64.b64decode(secret["data"][key]).decode()


@pytest.fixture(scope="module")
def rendered(platform_render):
    return objects_of(platform_render.objects)


@pytest.fixture(scope="module")
def container(rendered):
    pod = pod_spec_of(find(rendered, "Deployment", "keycloak"))
    assert [c["name"] for c in pod["containers"]] == ["keycloak"]
    return pod["containers"][0]


def env_of(container):
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_namespace_is_injected_and_enforces_restricted(rendered):
    namespace = find(rendered, "Namespace", NS, None)
    assert namespace["metadata"]["annotations"]["linkerd.io/inject"] == "enabled"
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == labels["pod-security.kubernetes.io/warn"] == "restricted"


def test_jgroups_is_an_opaque_port_of_the_mesh(rendered, container):
    # Keycloak's jdbc-ping stack listens on jgroups.bind.port (7800) and, for FD_SOCK2
    # failure detection, on that port plus jgroups.fd.port-offset (50000): 57800
    # (Keycloak server configuration guide, caching, "Network ports").
    annotations = find(rendered, "Deployment", "keycloak")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["config.linkerd.io/opaque-ports"].split(",") == ["7800", "57800"]
    assert {"name": "jgroups", "containerPort": 7800, "protocol": "TCP"} in container["ports"]
    assert {"name": "jgroups-fd", "containerPort": 57800, "protocol": "TCP"} in container["ports"]


def test_pod_is_restricted_anyway(rendered, container):
    deployment = find(rendered, "Deployment", "keycloak")
    assert "gauntlet.dev/pod-security-exemption" not in (deployment["metadata"].get("annotations") or {})
    pod = pod_spec_of(deployment)
    assert restricted_violations(pod) == []
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["automountServiceAccountToken"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_image_and_start_command(container):
    assert container["image"] == IMAGE
    assert container["args"] == ["start", "--optimized"]


def test_database_settings_come_from_the_cnpg_credential(platform_render, rendered, container):
    env = env_of(container)
    assert env["KC_DB"] == "postgres"
    assert env["KC_DB_URL"] == "jdbc:postgresql://platform-db-rw.database.svc:5432/keycloak"
    assert env["KC_DB_USERNAME"] == {"secretKeyRef": {"name": "keycloak-db", "key": "username"}}
    assert env["KC_DB_PASSWORD"] == {"secretKeyRef": {"name": "keycloak-db", "key": "password"}}
    secret = find(rendered, "Secret", "keycloak-db")
    password = (platform_render.credentials / "postgres/keycloak").read_text().strip()
    assert secret_value(secret, "username") == "keycloak"
    assert secret_value(secret, "password") == password
    # Both sides of the contract: the cnpg role gives role `keycloak` the same password.
    cnpg_secret = find(
        objects_of(platform_render.objects, "cnpg-cluster"), "Secret", "platform-db-keycloak", "database"
    )
    assert secret_value(cnpg_secret, "password") == password


def test_bootstrap_admin_comes_from_its_credential(platform_render, rendered, container):
    env = env_of(container)
    secret = find(rendered, "Secret", "keycloak-bootstrap-admin")
    for variable, key in (("KC_BOOTSTRAP_ADMIN_USERNAME", "username"), ("KC_BOOTSTRAP_ADMIN_PASSWORD", "password")):
        assert env[variable] == {"secretKeyRef": {"name": "keycloak-bootstrap-admin", "key": key}}
    assert secret_value(secret, "username") == "admin"
    password = (platform_render.credentials / "keycloak/admin-password").read_text().strip()
    assert secret_value(secret, "password") == password and len(password) >= 32


def test_public_url_proxy_and_observability(container):
    env = env_of(container)
    assert env["KC_HOSTNAME"] == "https://keycloak.local"
    assert env["KC_PROXY_HEADERS"] == "xforwarded"
    assert env["KC_HTTP_ENABLED"] == "true"
    assert env["KC_HEALTH_ENABLED"] == env["KC_METRICS_ENABLED"] == "true"
    assert env["KC_HTTP_MANAGEMENT_PORT"] == "9000"
    assert "KC_HOSTNAME_STRICT" not in env  # the issuer never follows the request's host


def test_forwarded_headers_are_trusted_only_from_the_pods_own_proxy(container):
    """Review L7: with proxy-headers and no proxy-trusted-addresses Keycloak believes the
    X-Forwarded-* headers of any caller (client address for brute-force lockout and events,
    and the scheme ssl_required checks). Keycloak 26 `proxy-trusted-addresses`
    (keycloak-config-api ProxyOptions, checked in tests/identity/test_keycloak_options.py):
    headers from other addresses are ignored. In the mesh every connection reaches Keycloak
    from its own pod's Linkerd proxy (it forwards to the original destination, the pod's
    address, linkerd2-proxy since 2.11; loopback before), Traefik's included."""
    env = env_of(container)
    names = [e["name"] for e in container["env"]]
    assert env["KC_POD_IPS"] == {"fieldRef": {"fieldPath": "status.podIPs"}}
    assert env["KC_PROXY_TRUSTED_ADDRESSES"] == "127.0.0.1,$(KC_POD_IPS)"
    # Kubernetes expands $(VAR) only from variables defined earlier in the list.
    assert names.index("KC_POD_IPS") < names.index("KC_PROXY_TRUSTED_ADDRESSES")


def test_root_filesystem_is_read_only(rendered, container):
    """Review L7: `kc.sh start` re-builds the stock image into /opt/keycloak/lib/quarkus at
    every start, so the root filesystem was writable. An init container builds once into an
    emptyDir (a copy of the image's lib/quarkus first: the build's own launcher reads it),
    and the server starts `--optimized` on a read-only root with emptyDirs where it writes:
    lib/quarkus (the build), data (data/transaction-logs, caches) and /tmp (the JVM). What the build and
    the server really write is checked against the real distribution by the identity tier
    (tests/identity/test_keycloak_options.py, keycloak_server.py read-only root)."""
    pod = pod_spec_of(find(rendered, "Deployment", "keycloak"))
    assert container["args"] == ["start", "--optimized"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert set(mounts) == {"/opt/keycloak/lib/quarkus", "/opt/keycloak/data", "/tmp"}
    assert all(volumes[name] == {"name": name, "emptyDir": {}} for name in mounts.values())
    init = {c["name"]: c for c in pod["initContainers"]}
    assert list(init) == ["keycloak-copy-build", "keycloak-build"]
    copy, build = init["keycloak-copy-build"], init["keycloak-build"]
    for step in (copy, build):
        assert step["image"] == container["image"]
        assert step["securityContext"] == container["securityContext"]
        assert step["resources"] == container["resources"]
    quarkus = mounts["/opt/keycloak/lib/quarkus"]
    assert {m["name"]: m["mountPath"] for m in copy["volumeMounts"]} == {quarkus: "/mnt/quarkus"}
    assert copy["command"] == ["/bin/sh", "-c", "cp -R /opt/keycloak/lib/quarkus/. /mnt/quarkus/"]
    assert {m["mountPath"]: m["name"] for m in build["volumeMounts"]} == {
        "/opt/keycloak/lib/quarkus": quarkus, "/tmp": mounts["/tmp"]
    }  # fmt: skip
    assert build["args"] == ["build"]
    # The build options (db, health, metrics) are the same in both, so `--optimized` starts
    # what was built.
    build_env = env_of(build)
    for name in ("KC_DB", "KC_HEALTH_ENABLED", "KC_METRICS_ENABLED"):
        assert build_env[name] == env_of(container)[name], name
    assert not [e for e in build["env"] if "valueFrom" in e], "the build needs no Secret"
    assert restricted_violations(pod) == []


def realm_name():
    return collection_defaults()["gauntlet_keycloak_realm"]


def task_api_settings():
    return yaml.safe_load((REPO / "gitops/task-api/configmap.yaml").read_text())["data"]


def test_issuer_is_what_the_task_api_trusts(platform_render, container):
    # Keycloak's issuer is <KC_HOSTNAME>/realms/<realm>; the Task API (gitops) checks `iss`
    # against its configured issuer.
    config = task_api_settings()
    assert f"{env_of(container)['KC_HOSTNAME']}/realms/{realm_name()}" == config["TASK_API_OIDC_ISSUER"]
    assert config["TASK_API_OIDC_AUDIENCE"] == "task-api"
    assert env_of(container)["KC_HOSTNAME_BACKCHANNEL_DYNAMIC"] == "true"


def test_the_task_api_accepts_tokens_of_exactly_the_role_s_api_clients():
    # azp: the clients the keycloak role makes for the API (its service account, the CLI
    # client), and no web client (grafana's or argocd's token may carry aud task-api).
    contract = yaml.safe_load((REPO / "roles/keycloak/vars/main.yml").read_text())
    parties = task_api_settings()["TASK_API_OIDC_AUTHORIZED_PARTIES"].split(",")
    assert sorted(parties) == sorted([contract["__keycloak_api_client"], contract["__keycloak_test_client"]])


def test_task_api_fetches_the_keys_over_https_with_the_local_ca(platform_render, rendered):
    """ssl_required `all` refuses plain HTTP even on the keys endpoint (review M5): the Task
    API fetches them at the public URL, verified against the local CA the platform puts into
    its namespace (ConfigMap gauntlet-local-ca, mounted where TASK_API_JWKS_CA_FILE points)."""
    from urllib.parse import urlsplit

    config = task_api_settings()
    jwks = urlsplit(config["TASK_API_JWKS_URL"])
    assert (jwks.scheme, jwks.hostname) == ("https", platform_render.domains["keycloak"])
    assert jwks.path == f"/realms/{realm_name()}/protocol/openid-connect/certs"
    ca_map = find(rendered, "ConfigMap", "gauntlet-local-ca", "task-api")
    local_ca = (platform_render.credentials / "ca/ca.crt").read_text()
    assert ca_map["data"] == {"ca.crt": local_ca}
    assert "PRIVATE KEY" not in ca_map["data"]["ca.crt"]
    deployment = yaml.safe_load((REPO / "gitops/task-api/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (app,) = [c for c in pod["containers"] if c["name"] == "task-api"]
    mounts = [
        m for m in app["volumeMounts"] if volumes[m["name"]].get("configMap", {}).get("name") == "gauntlet-local-ca"
    ]
    assert len(mounts) == 1 and mounts[0].get("readOnly") is True
    assert config["TASK_API_JWKS_CA_FILE"] == f"{mounts[0]['mountPath'].rstrip('/')}/ca.crt"


def test_probes_use_the_management_port(container):
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == 8080 and ports["management"] == 9000
    paths = {
        probe: (container[probe]["httpGet"]["path"], ports[container[probe]["httpGet"]["port"]])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths == {
        "startupProbe": ("/health/started", 9000),
        "readinessProbe": ("/health/ready", 9000),
        "livenessProbe": ("/health/live", 9000),
    }
    # The first start re-builds the server: allow five minutes.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_service_contract(rendered, container):
    service = find(rendered, "Service", "keycloak-service")
    pod_labels = find(rendered, "Deployment", "keycloak")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    ports = {p["name"]: (p["port"], container_ports[p["targetPort"]]) for p in service["spec"]["ports"]}
    assert ports == {"http": (8080, 8080), "management": (9000, 9000)}


def ingress_routes(ingress):
    """{(host, path): (pathType, backend service)} of an Ingress."""
    return {
        (rule["host"], path["path"]): (path["pathType"], path["backend"]["service"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }


def routed(ingress, host, request_path):
    """Whether a request path reaches the backend: Prefix matching as Kubernetes defines it
    (networking.k8s.io/v1 HTTPIngressPath: element-wise on '/'-separated path elements)."""
    request = [e for e in request_path.split("/") if e]
    for (rule_host, path), (kind, _unused) in ingress_routes(ingress).items():
        prefix = [e for e in path.split("/") if e]
        if rule_host == host and kind == "Prefix" and request[: len(prefix)] == prefix:
            return True
    return False


BACKEND = {"name": "keycloak-service", "port": {"number": 8080}}


def test_public_ingress_routes_only_what_end_users_need(platform_render, rendered):
    # Keycloak 26's reverse-proxy guide, "Exposed path recommendations": /realms/, /resources/
    # and /.well-known/ are exposed; /, /admin/, /metrics and /health are not. Of /realms/
    # only the platform realm is: the master realm (the administrators') is not.
    host = platform_render.domains["keycloak"]
    ingress = find(rendered, "Ingress", "keycloak")
    realm = realm_name()
    assert ingress_routes(ingress) == {
        (host, path): ("Prefix", BACKEND) for path in (f"/realms/{realm}", "/resources", "/.well-known")
    }
    assert ingress["spec"]["tls"] == [{"hosts": [host]}]
    for path in (
        f"/realms/{realm}/.well-known/openid-configuration",
        f"/realms/{realm}/protocol/openid-connect/certs",
        f"/realms/{realm}/protocol/openid-connect/auth",
        f"/realms/{realm}/account",
        "/resources/x/login/keycloak.v2/css/styles.css",
    ):
        assert routed(ingress, host, path), path
    for path in (
        "/",
        "/admin/master/console/",
        "/admin/realms/gauntlet/users",
        "/realms/master/protocol/openid-connect/token",
        f"/realms/{realm}x/protocol/openid-connect/token",
        "/metrics",
        "/health/ready",
    ):
        assert not routed(ingress, host, path), path


def test_admin_console_has_its_own_host(platform_render, rendered, container):
    admin_host = platform_render.domains["keycloak_admin"]
    assert admin_host not in (platform_render.domains["keycloak"], "")
    # hostname-admin (KC_HOSTNAME_ADMIN): the console's links and its API calls use this URL
    # (Keycloak 26 "Configuring the hostname (v2)", "Exposing the Administration Console on
    # a separate hostname"; the operator's CRD carries it as spec.hostname.admin,
    # keycloak/26.0.0/kubernetes/keycloaks.k8s.keycloak.org-v1.yml).
    assert env_of(container)["KC_HOSTNAME_ADMIN"] == f"https://{admin_host}"
    ingress = find(rendered, "Ingress", "keycloak-admin")
    assert ingress_routes(ingress) == {
        (admin_host, path): ("Prefix", BACKEND) for path in ("/admin", "/realms/master", "/resources")
    }
    assert ingress["spec"]["tls"] == [{"hosts": [admin_host]}]
    assert not routed(ingress, admin_host, f"/realms/{realm_name()}/protocol/openid-connect/token")
    assert routed(ingress, admin_host, "/admin/master/console/")


def test_servicemonitor_scrapes_the_management_port(rendered):
    monitor = find(rendered, "ServiceMonitor", "keycloak")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    service = find(rendered, "Service", "keycloak-service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "management", "path": "/metrics", "scheme": "http"}]
    binding = find(rendered, "RoleBinding", "prometheus-k8s-discovery")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}]


def test_a_new_database_password_rolls_the_pods(platform_render, rendered):
    import hashlib

    template = find(rendered, "Deployment", "keycloak")["spec"]["template"]["metadata"]
    password = (platform_render.credentials / "postgres/keycloak").read_text().strip()
    expected = hashlib.sha256(f"keycloak:{password}".encode()).hexdigest()
    assert template["annotations"]["checksum/keycloak-db"] == expected


def test_single_replica_has_no_disruption_budget(rendered):
    deployment = find(rendered, "Deployment", "keycloak")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert not [o for o in rendered if o["kind"] == "PodDisruptionBudget"]


def test_render_mode_configures_nothing(platform_render):
    # The realm's client secrets and the test password are created by the configure
    # step, which needs a running Keycloak: render mode never reaches it.
    # (Client secrets of Argo CD and Grafana are also created by those roles, which put
    # them in their own Secrets; they are the same credential files.)
    names = {p.name for p in (platform_render.credentials / "keycloak").iterdir()}
    assert "admin-password" in names
    assert names <= {"admin-password", "client-argocd", "client-grafana"}


# --- other settings ------------------------------------------------------------------------


def run_role(platform_render, render_tools, tmp_path, extra):
    playbook = tmp_path / "keycloak.yml"
    playbook.write_text(ROLE_ONLY)
    out = tmp_path / "render"
    args = {
        "gauntlet_render_dir": str(out),
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        "gauntlet_bundle_dir": str(platform_render.bundle),
        **extra,
    }
    result = render_tools.run_playbook(playbook, "-e", json.dumps(args))
    return result, {p.relative_to(out): yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))}


def test_replicas_without_linkerd(platform_render, render_tools, tmp_path):
    # "2" as `-e keycloak_replicas=2` passes it: a string.
    result, objects = run_role(
        platform_render,
        render_tools,
        tmp_path,
        {"keycloak_replicas": "2", "gauntlet_linkerd_enabled": False, "keycloak_monitoring": False,
         "keycloak_extra_env": [{"name": "KC_LOG_CONSOLE_OUTPUT", "value": "json"}], "keycloak_ca_namespaces": []},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = objects_of(objects)
    namespace = find(rendered, "Namespace", NS, None)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "annotations" not in namespace["metadata"]
    deployment = find(rendered, "Deployment", "keycloak")
    assert deployment["spec"]["replicas"] == 2
    assert not [a for a in deployment["spec"]["template"]["metadata"]["annotations"] if "linkerd" in a]
    assert deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert find(rendered, "PodDisruptionBudget", "keycloak")["spec"]["maxUnavailable"] == 1
    assert {"name": "KC_LOG_CONSOLE_OUTPUT", "value": "json"} in pod_spec_of(deployment)["containers"][0]["env"]
    assert not {"ServiceMonitor", "Role", "RoleBinding", "ConfigMap"} & {o["kind"] for o in rendered}
    for obj in rendered:
        if obj["kind"] in ("Deployment", "PodDisruptionBudget"):
            render_tools.validate_object(obj)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"keycloak_replicas": 0}, "keycloak_replicas must be an integer >= 1"),
        ({"keycloak_url": "https://keycloak.local/auth"}, "keycloak_url https://<host> without a path"),
        ({"keycloak_access_token_lifespan": 5}, "keycloak_access_token_lifespan an integer >= 30"),
        ({"keycloak_web_clients": [{"client_id": "task-api", "redirect_uris": []}]}, "not task-api or task-api-cli"),
        ({"keycloak_web_clients": [{"client_id": "grafana"}]}, "with redirect_uris"),
    ],
)
def test_bad_settings_stop_with_a_message(platform_render, render_tools, tmp_path, extra, message):
    result, objects = run_role(platform_render, render_tools, tmp_path, extra)
    assert result.returncode != 0
    assert message in " ".join((result.stdout + result.stderr).split())
    assert not objects
