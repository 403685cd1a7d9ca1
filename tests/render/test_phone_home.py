"""No component of the platform calls home: every known phone-home setting, checked in what is rendered.

The platform is air-gapped; an update check, a usage report or a trace exporter left on
only fills the logs with errors (and would leak usage data where a route exists). PHONE_HOME
lists every such setting known for every component the platform runs, with the upstream file
that says it exists and what its default is; each row reads the value from the rendered
output (the platform render of inventory/sample, the k3s stage's Traefik values, the
registry's systemd unit), never from a constant. NO_PHONE_HOME lists the components with no
such setting, and the last test makes sure every rendered component is in one of the two
lists, so a new component needs a decision here.
"""

import base64
import configparser
import json
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]

HOST_PLAYBOOK = """---
- name: Render the k3s stage's Traefik values
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - gauntlet.platform.gauntlet
    - gauntlet.platform.traefik

- name: Render the registry's systemd unit the way the registry role installs it
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files: [{roles}/registry/defaults/main.yml]
  vars:
    __registry_binary: /usr/local/bin/gauntlet-registry
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Write it
      ansible.builtin.template:
        src: "{roles}/registry/templates/gauntlet-registry.service.j2"
        dest: "{{{{ gauntlet_render_dir }}}}/gauntlet-registry.service"
        mode: "0644"
"""


class Rendered(NamedTuple):
    objects: dict  # (kind, namespace, name) -> object, from the platform render and the k3s stage
    components: set  # top-level folders of the renders, plus "registry"
    registry_unit: str


@pytest.fixture(scope="module")
def rendered(platform_render, render_tools, tmp_path_factory):
    work = tmp_path_factory.mktemp("phone-home")
    (work / "render.yml").write_text(HOST_PLAYBOOK.format(roles=REPO / "roles"))
    out = work / "out"
    result = render_tools.run_playbook(
        work / "render.yml",
        "-e",
        json.dumps({"gauntlet_render_dir": str(out), "gauntlet_credentials_dir": str(work / "credentials")}),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    paths = {p.relative_to(out): yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))}
    paths |= platform_render.objects
    objects = {}
    for obj in paths.values():
        key = (obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"])
        assert key not in objects, f"{key} rendered twice"
        objects[key] = obj
    components = {p.parts[0] for p in paths} | {"registry"}
    return Rendered(objects, components, (out / "gauntlet-registry.service").read_text())


# --- Readers: each takes the Rendered and returns the value as rendered -------------------


def _get(rendered, kind, namespace, name):
    obj = rendered.objects.get((kind, namespace, name))
    assert obj is not None, f"{kind} {namespace}/{name} is not rendered"
    return obj


def helm_value(kind, name, path):
    def read(rendered):
        values = yaml.safe_load(_get(rendered, kind, "kube-system", name)["spec"]["valuesContent"])
        for key in path.split("."):
            values = values[key]
        return values

    return read


def container_env(namespace, deployment, container, variable):
    def read(rendered):
        pod = _get(rendered, "Deployment", namespace, deployment)["spec"]["template"]["spec"]
        (found,) = [c for c in pod["containers"] if c["name"] == container]
        env = {e["name"]: e.get("value") for e in found.get("env", [])}
        for source in found.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            kind = "ConfigMap" if "configMapRef" in source else "Secret"
            data = _get(rendered, kind, namespace, ref["name"]).get("data") or {}
            if kind == "Secret":
                data = {k: base64.b64decode(v).decode() for k, v in data.items()}
            env = data | env
        return env.get(variable)

    return read


def ini_value(namespace, secret, key, section, option):
    def read(rendered):
        text = base64.b64decode(_get(rendered, "Secret", namespace, secret)["data"][key]).decode()
        parser = configparser.RawConfigParser(strict=True, comment_prefixes=(";", "#"))
        parser.optionxform = str
        parser.read_string("[__root__]\n" + text)
        return parser.get(section, option, fallback=None)

    return read


def unit_environment(variable):
    def read(rendered):
        env = {}
        for line in rendered.registry_unit.splitlines():
            if line.startswith("Environment="):
                name, _unused, value = line.removeprefix("Environment=").strip('"').partition("=")
                env[name] = value
        return env.get(variable)

    return read


class Setting(NamedTuple):
    component: str  # top-level render folder (or "registry")
    where: str
    setting: str
    required: object
    source: str  # upstream file saying the setting exists and what its default is
    read: Callable


TRAEFIK_CHART = "traefik/traefik-helm-chart v40.1.0 (../shared/upstream, VERSIONS.md §12)"
GRAFANA = "grafana/grafana v13.0.2 (kube-prometheus v0.18.0 grafana-deployment.yaml) conf/defaults.ini"
GITEA = "go-gitea/gitea v1.27.3 custom/conf/app.example.ini"

PHONE_HOME = [
    Setting("traefik", "HelmChartConfig kube-system/traefik valuesContent", "global.checkNewVersion", False,
            f"{TRAEFIK_CHART} values.yaml (default true), templates/_podtemplate.tpl",
            helm_value("HelmChartConfig", "traefik", "global.checkNewVersion")),
    Setting("traefik", "HelmChartConfig kube-system/traefik valuesContent", "global.sendAnonymousUsage", False,
            f"{TRAEFIK_CHART} values.yaml (default false), templates/_podtemplate.tpl",
            helm_value("HelmChartConfig", "traefik", "global.sendAnonymousUsage")),
    Setting("drone", "Deployment drone/drone, container drone", "DRONE_DATADOG_ENABLED", "false",
            "harness/drone v2.25.0 docker/Dockerfile.server.linux.amd64 (ENV true, stats.drone.ci), "
            "cmd/drone-server/config/config.go",
            container_env("drone", "drone", "drone", "DRONE_DATADOG_ENABLED")),
    Setting("drone", "Deployment drone/drone-runner, container runner", "DRONE_TMATE_ENABLED", "false",
            "drone-runners/drone-runner-kube v1.0.0-rc.5 command/daemon/config.go (default true: remote "
            "debugging through public tmate servers, image drone/drone-runner-docker:1)",
            container_env("drone", "drone-runner", "runner", "DRONE_TMATE_ENABLED")),
    Setting("registry", "systemd unit gauntlet-registry.service", "Environment OTEL_TRACES_EXPORTER", "none",
            "distribution/distribution v3.1.1 tracing/tracing.go (autoexport, OTLP by default), "
            "docs/content/about/configuration.md; VERSIONS.md §9 (library image)",
            unit_environment("OTEL_TRACES_EXPORTER")),
    Setting("monitoring", "Secret monitoring/grafana-config grafana.ini", "[analytics] reporting_enabled", "false",
            GRAFANA, ini_value("monitoring", "grafana-config", "grafana.ini", "analytics", "reporting_enabled")),
    Setting("monitoring", "Secret monitoring/grafana-config grafana.ini", "[analytics] check_for_updates", "false",
            GRAFANA, ini_value("monitoring", "grafana-config", "grafana.ini", "analytics", "check_for_updates")),
    Setting("monitoring", "Secret monitoring/grafana-config grafana.ini", "[analytics] check_for_plugin_updates",
            "false", GRAFANA,
            ini_value("monitoring", "grafana-config", "grafana.ini", "analytics", "check_for_plugin_updates")),
    Setting("monitoring", "Secret monitoring/grafana-config grafana.ini", "[news] news_feed_enabled", "false",
            GRAFANA, ini_value("monitoring", "grafana-config", "grafana.ini", "news", "news_feed_enabled")),
    Setting("monitoring", "Secret monitoring/grafana-config grafana.ini", "[plugins] preinstall_disabled", "true",
            GRAFANA, ini_value("monitoring", "grafana-config", "grafana.ini", "plugins", "preinstall_disabled")),
    Setting("monitoring", "Secret monitoring/grafana-config grafana.ini",
            "[plugins] public_key_retrieval_disabled", "true", GRAFANA,
            ini_value("monitoring", "grafana-config", "grafana.ini", "plugins", "public_key_retrieval_disabled")),
    Setting("monitoring", "Secret monitoring/grafana-config grafana.ini", "[security] disable_gravatar", "true",
            GRAFANA, ini_value("monitoring", "grafana-config", "grafana.ini", "security", "disable_gravatar")),
    Setting("gitea", "Secret gitea/gitea-config app.ini", "[server] OFFLINE_MODE", "true",
            f"{GITEA} (default false: CDN and Gravatar)",
            ini_value("gitea", "gitea-config", "app.ini", "server", "OFFLINE_MODE")),
    Setting("gitea", "Secret gitea/gitea-config app.ini", "[cron.update_checker] ENABLED", "false",
            f"{GITEA} (default true: dl.gitea.com)",
            ini_value("gitea", "gitea-config", "app.ini", "cron.update_checker", "ENABLED")),
    Setting("linkerd", "HelmChart kube-system/linkerd-control-plane valuesContent", "disableHeartBeat", True,
            "linkerd edge-26.8.3 charts/linkerd-control-plane values.yaml (default false), templates/heartbeat.yaml "
            "(CronJob to versioncheck.linkerd.io)",
            helm_value("HelmChart", "linkerd-control-plane", "disableHeartBeat")),
]  # fmt: skip

# Rendered components with no known phone-home setting (what was checked). k3s v1.36.4 itself
# (not rendered here) has no update check or telemetry; its Traefik is in PHONE_HOME.
NO_PHONE_HOME = {
    "cnpg": "cloudnative-pg 1.30.0 cnpg-1.30.0.yaml: no telemetry setting",
    "cnpg-cluster": "a CloudNativePG Cluster (PostgreSQL): none",
    "keycloak": "Keycloak 26.7.4: no usage reporting or update check",
    "argocd": "Argo CD v3.5.1 install.yaml (and its Dex): no telemetry or update check",
    "argocd-crds": "CRDs only",
    "argocd-apps": "Argo CD Applications only",
    "linkerd-crds": "CRDs only",
    "linkerd-cni": "linkerd2-cni edge-26.8.3: the install-cni DaemonSet, no heartbeat or URL (templates/cni-plugin.yaml)",
    "linkerd-viz": "linkerd-viz: metrics-api, tap, web; the heartbeat is the control plane's (row above)",
    "linkerd-dashboard": "Ingress and Middleware only",
    "monitoring-crds": "CRDs only",
}
# Workloads inside listed components that have no setting either.
NO_PHONE_HOME_WORKLOADS = {
    (
        "Deployment",
        "drone",
        "drone-runner",
    ): "drone-runners/drone-runner-kube v1.0.0-rc.5 docker/Dockerfile.linux.amd64: no stats endpoint",
    ("Prometheus", "monitoring", "k8s"): "kube-prometheus v0.18.0 (Prometheus v3.12.0): none",
    ("Alertmanager", "monitoring", "main"): "kube-prometheus v0.18.0 (Alertmanager v0.33.0): none",
}


@pytest.mark.parametrize("row", PHONE_HOME, ids=lambda r: f"{r.component}:{r.setting}")
def test_phone_home_setting_is_off(rendered, row):
    assert row.component in rendered.components, f"{row.component} is not rendered: its row is stale"
    actual = row.read(rendered)
    assert actual == row.required, (
        f"{row.component}: {row.setting} in {row.where} is {actual!r}, must be {row.required!r} ({row.source})"
    )


def test_every_rendered_component_is_listed(rendered):
    listed = {row.component for row in PHONE_HOME} | set(NO_PHONE_HOME)
    unlisted = sorted(rendered.components - listed)
    assert not unlisted, f"components with no phone-home decision in this file: {unlisted}"
    stale = sorted(set(NO_PHONE_HOME) - rendered.components) + sorted(
        str(key) for key in NO_PHONE_HOME_WORKLOADS if key not in rendered.objects
    )
    assert not stale, f"listed here but not rendered: {stale}"
