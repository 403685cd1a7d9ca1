"""The gitea role's rendered objects: contracts, wiring between objects, and secrets equal to the credential files."""

import base64
import configparser
import re
import urllib.parse
from pathlib import Path

import pytest
from collection_defaults import collection_defaults, pinned_versions

REPO = Path(__file__).resolve().parents[2]
# The collection's contracts and pins (role gauntlet's defaults).
DEFAULTS = collection_defaults()


def gitea_objects(render):
    found = {(o["kind"], o["metadata"]["name"]): o for p, o in render.objects.items() if p.parts[0] == "gitea"}
    assert found, "the gitea component rendered nothing"
    return found


def secret(obj, key):
    return base64.b64decode(obj["data"][key]).decode()


def credential(render, name):
    return (render.credentials / name).read_text().strip()


@pytest.fixture(scope="module")
def objects(platform_render):
    return gitea_objects(platform_render)


@pytest.fixture(scope="module")
def app_ini(objects):
    text = secret(objects[("Secret", "gitea-config")], "app.ini")
    parser = configparser.RawConfigParser(strict=True)
    parser.optionxform = str
    parser.read_string("[__root__]\n" + text)
    return parser


def pod(objects):
    return objects[("Deployment", "gitea")]["spec"]["template"]["spec"]


def container(objects):
    (gitea,) = [c for c in pod(objects)["containers"] if c["name"] == "gitea"]
    return gitea


def test_in_cluster_url_contract_is_served(objects, platform_render):
    url = urllib.parse.urlsplit(platform_render.contracts["gauntlet_gitea_internal_url"])
    service_name, namespace = url.hostname.split(".")[:2]
    service = objects[("Service", service_name)]
    assert service["metadata"]["namespace"] == namespace == "gitea"
    (port,) = service["spec"]["ports"]
    assert port["port"] == url.port == 3000
    named = {p["name"]: p["containerPort"] for p in container(objects)["ports"]}
    assert named[port["targetPort"]] == 3000
    labels = objects[("Deployment", "gitea")]["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_namespace_is_meshed_and_restricted(objects, platform_render):
    namespace = objects[("Namespace", "gitea")]["metadata"]
    assert "gitea" in platform_render.contracts["gauntlet_linkerd_inject_namespaces"]
    assert namespace["annotations"]["linkerd.io/inject"] == "enabled"
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["labels"]["pod-security.kubernetes.io/warn"] == "restricted"
    context = pod(objects)["securityContext"]
    assert context["runAsUser"] == 1000 and context["runAsNonRoot"] is True
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_ingress_publishes_the_gitea_domain(objects, platform_render):
    ingress = objects[("Ingress", "gitea")]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == platform_render.domains["gitea"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "gitea-http", "port": {"number": 3000}}


def test_app_ini_settings(app_ini, platform_render):
    domain = platform_render.domains["gitea"]
    assert app_ini["server"]["ROOT_URL"] == f"https://{domain}/"
    assert app_ini["server"]["DOMAIN"] == domain
    assert app_ini["server"]["HTTP_PORT"] == "3000"
    assert app_ini["security"]["INSTALL_LOCK"] == "true"
    assert app_ini["service"]["DISABLE_REGISTRATION"] == "true"
    assert app_ini["metrics"]["ENABLED"] == "true"
    database = app_ini["database"]
    assert database["DB_TYPE"] == "postgres"
    assert database["HOST"] == "platform-db-rw.database.svc:5432"
    assert (database["NAME"], database["USER"]) == ("gitea", "gitea")


def test_allowed_host_list_lets_webhooks_reach_drone_and_cluster_services(app_ini, platform_render):
    # Gitea 1.27 reads [security] ALLOWED_HOST_LIST; [webhook] ALLOWED_HOST_LIST is deprecated.
    hosts = app_ini["security"]["ALLOWED_HOST_LIST"].split(",")
    assert platform_render.domains["drone"] in hosts
    assert {"*.svc", "*.svc.cluster.local"} <= set(hosts)
    assert "*" not in hosts and "external" not in hosts
    assert "ALLOWED_HOST_LIST" not in app_ini["webhook"]


def test_app_ini_secrets_are_the_credential_files(app_ini, objects, platform_render):
    assert app_ini["database"]["PASSWD"] == f"`{credential(platform_render, 'postgres/gitea')}`"
    assert app_ini["security"]["SECRET_KEY"] == credential(platform_render, "gitea/secret-key")
    assert app_ini["security"]["INTERNAL_TOKEN"] == credential(platform_render, "gitea/internal-token")
    jwt = app_ini["oauth2"]["JWT_SECRET"]
    assert jwt == credential(platform_render, "gitea/oauth2-jwt-secret")
    assert len(base64.urlsafe_b64decode(jwt + "=")) == 32  # what Gitea requires of JWT_SECRET
    token = credential(platform_render, "gitea/metrics-token")
    assert app_ini["metrics"]["TOKEN"] == token == secret(objects[("Secret", "gitea-metrics")], "token")
    assert secret(objects[("Secret", "gitea-admin")], "password") == credential(platform_render, "gitea/admin-password")


def test_config_reaches_the_pod_through_a_writable_copy(objects):
    spec = pod(objects)
    volumes = {v["name"]: v for v in spec["volumes"]}
    (init,) = spec["initContainers"]
    mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
    assert volumes["config-source"]["secret"]["secretName"] == "gitea-config"
    assert f"{mounts['config-source']}/app.ini" in init["command"][-1]
    assert volumes["config"]["emptyDir"]["medium"] == "Memory"
    gitea = container(objects)
    env = {e["name"]: e.get("value") for e in gitea["env"]}
    config_mount = {m["name"]: m["mountPath"] for m in gitea["volumeMounts"]}["config"]
    assert env["GITEA_APP_INI"] == f"{config_mount}/app.ini" == f"{mounts['config']}/app.ini"
    checksum = objects[("Deployment", "gitea")]["spec"]["template"]["metadata"]["annotations"]
    assert re.fullmatch(r"[0-9a-f]{64}", checksum["gauntlet.dev/config-checksum"])


def test_pod_trusts_the_platform_ca(objects, platform_render):
    gitea = container(objects)
    env = {e["name"]: e.get("value") for e in gitea["env"]}
    mounts = {m["name"]: m["mountPath"] for m in gitea["volumeMounts"]}
    volumes = {v["name"]: v for v in pod(objects)["volumes"]}
    (name,) = [n for n, path in mounts.items() if env["SSL_CERT_FILE"] == f"{path}/ca.crt"]
    configmap = objects[("ConfigMap", volumes[name]["configMap"]["name"])]
    assert configmap["data"]["ca.crt"] == (platform_render.credentials / "ca" / "ca.crt").read_text()


def test_storage_probes_resources_and_image(objects, platform_render):
    gitea = container(objects)
    assert gitea["image"] == DEFAULTS["gauntlet_images"]["gitea"].replace(
        "{{ gauntlet_versions.gitea }}", pinned_versions()["gitea"]
    )
    assert gitea["image"].endswith("-rootless") and gitea["image"] in platform_render.images
    assert gitea["readinessProbe"]["httpGet"]["path"] == "/api/healthz"
    assert gitea["startupProbe"]["httpGet"]["path"] == "/api/healthz"
    assert gitea["livenessProbe"]
    assert gitea["resources"]["requests"] and gitea["resources"]["limits"]
    data = {m["name"]: m["mountPath"] for m in gitea["volumeMounts"]}["data"]
    volumes = {v["name"]: v for v in pod(objects)["volumes"]}
    assert data == "/var/lib/gitea"
    assert objects[("PersistentVolumeClaim", volumes["data"]["persistentVolumeClaim"]["claimName"])]
    assert objects[("Deployment", "gitea")]["spec"]["strategy"]["type"] == "Recreate"


def test_service_monitor_scrapes_with_the_metrics_token(objects):
    monitor = objects[("ServiceMonitor", "gitea")]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in objects[("Service", "gitea-http")]["spec"]["ports"]}
    reference = endpoint["authorization"]["credentials"]
    assert reference["key"] in objects[("Secret", reference["name"])]["data"]
    binding = objects[("RoleBinding", "prometheus-k8s")]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}]
