"""What is particular to the monitoring role's rendered objects (issue "Platform services II").

The shared fixture renders playbooks/platform.yml from inventory/sample with a bundle made
of ../shared/upstream; a second render with Prometheus and Alertmanager kept internal
(monitoring_*_ingress false) checks that path.
"""

import base64
import configparser
import io
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest
import yaml
from pod_security import pod_spec_of, restricted_violations
from upstream import path as upstream_path

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "monitoring"
UPSTREAM = "kube-prometheus/v0.18.0/manifests"  # in the upstream folder (tests/upstream.py)
NS = "monitoring"
EXEMPTION = "gauntlet.dev/pod-security-exemption"


def objects(render, component=NS):
    return {p: o for p, o in render.objects.items() if p.parts[0] == component}


def find(render, kind, name, component=NS):
    found = [o for o in objects(render, component).values() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} rendered"
    return found[0]


def kinds(render, kind, component=NS):
    return [o for o in objects(render, component).values() if o["kind"] == kind]


def secret_value(secret, key):
    return base64.b64decode(secret["data"][key]).decode()


def credential(render, name):
    return (render.credentials / name).read_text().strip()


def grafana_container(render):
    pod = find(render, "Deployment", "grafana")["spec"]["template"]["spec"]
    return pod, next(c for c in pod["containers"] if c["name"] == "grafana")


def grafana_ini(render):
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    parser.read_string(secret_value(find(render, "Secret", "grafana-config"), "grafana.ini"))
    return parser


# --- Trimmed to what the platform needs ------------------------------------------------


def test_crds_come_first_in_their_own_component(platform_render):
    crds = objects(platform_render, "monitoring-crds")
    assert {o["kind"] for o in crds.values()} == {"CustomResourceDefinition"}
    names = {o["spec"]["names"]["kind"] for o in crds.values()}
    assert names == {"Alertmanager", "AlertmanagerConfig", "PodMonitor", "Probe", "Prometheus", "PrometheusAgent",
                     "PrometheusRule", "ScrapeConfig", "ServiceMonitor", "ThanosRuler"}  # fmt: skip
    assert {o["kind"] for o in objects(platform_render).values()}.isdisjoint({"CustomResourceDefinition"})


def test_adapter_blackbox_and_k3s_embedded_components_are_left_out(platform_render):
    names = {(o["kind"], o["metadata"]["name"]) for o in objects(platform_render).values()}
    text = yaml.safe_dump(list(objects(platform_render).values()))
    assert "prometheus-adapter" not in text and "blackbox" not in text  # not even a NetworkPolicy peer
    assert not any(kind == "APIService" for kind, _unused in names), "k3s's metrics-server owns the metrics API"
    monitors = {n for k, n in names if k == "ServiceMonitor"}
    assert {"kube-apiserver", "kubelet", "coredns", "node-exporter", "kube-state-metrics", "prometheus-k8s",
            "alertmanager-main", "grafana", "prometheus-operator"} <= monitors  # fmt: skip
    assert monitors.isdisjoint({"kube-scheduler", "kube-controller-manager"})
    groups = {
        g["name"] for g in find(platform_render, "PrometheusRule", "kubernetes-monitoring-rules")["spec"]["groups"]
    }
    assert "kubernetes-system-apiserver" in groups and "kubernetes-system-kubelet" in groups
    assert groups.isdisjoint(
        {"kubernetes-system-scheduler", "kubernetes-system-controller-manager", "kube-scheduler.rules"}
    )


def test_bundle_lists_exactly_the_kube_prometheus_files_it_reads(platform_render):
    entries = {n: e for n, e in platform_render.bundle_entries.items() if n.startswith("kube-prometheus/")}
    files = {n.split("/manifests/", 1)[1] for n in entries}
    assert len([f for f in files if f.startswith("setup/")]) == 10 and "setup/namespace.yaml" not in files
    assert not any(re.search(r"blackbox|prometheusAdapter|KubeScheduler|KubeControllerManager", f) for f in files)
    for name, entry in entries.items():
        assert (
            entry["url"]
            == "https://raw.githubusercontent.com/prometheus-operator/kube-prometheus/v0.18.0/manifests/"
            + (name.split("/manifests/", 1)[1])
        )
    workloads = {n.rsplit("/", 1)[1] for n, e in entries.items() if e["manifest"]}
    assert workloads == {"alertmanager-alertmanager.yaml", "grafana-deployment.yaml", "kubeStateMetrics-deployment.yaml",
                         "nodeExporter-daemonset.yaml", "prometheus-prometheus.yaml", "prometheusOperator-deployment.yaml"}  # fmt: skip
    # Every kube-prometheus object rendered comes from a listed file.
    listed = set()
    for name in files - {f for f in files if f.startswith("setup/")}:
        for doc in yaml.safe_load_all(upstream_path(f"{UPSTREAM}/{name}").read_text()):
            for obj in doc.get("items", [doc]) if doc["kind"].endswith("List") else [doc]:
                listed.add((obj["kind"], obj["metadata"]["name"]))
    ours = {(o["kind"], o["metadata"]["name"]) for o in objects(platform_render).values()
            if (o["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "kube-prometheus"}  # fmt: skip
    assert ours and ours <= listed


# --- Pod security -------------------------------------------------------------------------


NODE_EXPORTER_NS = "node-exporter"


def test_monitoring_is_restricted_and_node_exporter_has_a_namespace_of_its_own(platform_render):
    labels = find(platform_render, "Namespace", NS)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    exporter_ns = find(platform_render, "Namespace", NODE_EXPORTER_NS)["metadata"]
    assert exporter_ns["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert (exporter_ns.get("annotations") or {}).get("linkerd.io/inject") != "enabled"
    exempted = []
    for obj in objects(platform_render).values():
        pod = pod_spec_of(obj)
        if pod is None:
            continue
        if EXEMPTION in (obj["metadata"].get("annotations") or {}):
            exempted.append((obj["metadata"]["namespace"], obj["metadata"]["name"]))
            assert pod["hostNetwork"] and pod["hostPID"], "the exemption is for host access"
        else:
            assert obj["metadata"]["namespace"] == NS, obj["metadata"]["name"]
            assert restricted_violations(pod) == [], obj["metadata"]["name"]
            for container in pod["containers"]:
                assert container["resources"]["requests"] and container["resources"]["limits"], container["name"]
    assert exempted == [(NODE_EXPORTER_NS, "node-exporter")]
    # Everything of node-exporter moved with it: its ServiceAccount (and the ClusterRoleBinding's
    # subject), Service and ServiceMonitor; Prometheus may discover the targets there.
    for kind in ("ServiceAccount", "Service", "ServiceMonitor"):
        assert find(platform_render, kind, "node-exporter")["metadata"]["namespace"] == NODE_EXPORTER_NS
    (subject,) = find(platform_render, "ClusterRoleBinding", "node-exporter")["subjects"]
    assert subject == {"kind": "ServiceAccount", "name": "node-exporter", "namespace": NODE_EXPORTER_NS}
    # Prometheus discovers targets in every namespace (ClusterRole prometheus-k8s-discovery).
    rules = find(platform_render, "ClusterRole", "prometheus-k8s-discovery")["rules"]
    assert any("services" in r["resources"] and "list" in r["verbs"] for r in rules)


def test_node_exporter_namespace_admits_only_prometheus_scrapes(platform_render):
    from netpol import Pod, admitted

    policies = [o for o in objects(platform_render).values() if o["kind"] == "NetworkPolicy"
                and o["metadata"]["namespace"] == NODE_EXPORTER_NS]  # fmt: skip
    daemonset = find(platform_render, "DaemonSet", "node-exporter")
    labels = daemonset["spec"]["template"]["metadata"]["labels"]
    exporter = Pod(NODE_EXPORTER_NS, labels, False)
    prometheus = Pod(NS, {"app.kubernetes.io/name": "prometheus", "prometheus": "k8s"}, False)
    grafana = Pod(NS, {"app.kubernetes.io/name": "grafana"}, False)
    stranger = Pod("default", {"app": "stranger"}, False)
    assert admitted(policies, prometheus, exporter, 9100, "TCP")[1]
    assert not admitted(policies, grafana, exporter, 9100, "TCP")[1]
    assert not admitted(policies, stranger, exporter, 9100, "TCP")[1]
    assert not admitted(policies, prometheus, exporter, 22, "TCP")[1]
    # Default deny both ways for every pod of the namespace.
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress")
            and not p["spec"].get("egress")]  # fmt: skip
    assert deny and {"Ingress", "Egress"} <= set(deny[0]["spec"]["policyTypes"])


@pytest.mark.parametrize(("kind", "name"), [("Prometheus", "k8s"), ("Alertmanager", "main")])
def test_operator_built_pods_are_restricted(platform_render, kind, name):
    """The operator builds these pods from the CR: its pod securityContext must make them restricted
    (the operator itself drops every capability and forbids privilege escalation in its containers)."""
    context = find(platform_render, kind, name)["spec"]["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] != 0
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}


def test_single_replicas_have_no_disruption_budget_blocking_drains(platform_render):
    assert find(platform_render, "Prometheus", "k8s")["spec"]["replicas"] == 1
    assert find(platform_render, "Alertmanager", "main")["spec"]["replicas"] == 1
    assert kinds(platform_render, "PodDisruptionBudget") == []


# --- Prometheus: what it scrapes ------------------------------------------------------------


def test_prometheus_selects_every_monitor_and_rule_in_every_namespace(platform_render):
    spec = find(platform_render, "Prometheus", "k8s")["spec"]
    for what in ("serviceMonitor", "podMonitor", "probe", "scrapeConfig", "rule"):
        assert spec[f"{what}Selector"] == {}, what
        assert spec[f"{what}NamespaceSelector"] == {}, what
    assert spec["serviceAccountName"] == "prometheus-k8s"
    assert spec["retention"] == "15d"


def test_prometheus_may_discover_targets_in_every_namespace(platform_render):
    role = find(platform_render, "ClusterRole", "prometheus-k8s-discovery")
    granted = {(g, r) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               if {"get", "list", "watch"} <= set(rule["verbs"])}  # fmt: skip
    assert {("", "services"), ("", "pods"), ("", "endpoints"), ("discovery.k8s.io", "endpointslices")} <= granted
    binding = find(platform_render, "ClusterRoleBinding", "prometheus-k8s-discovery")
    assert binding["roleRef"]["name"] == "prometheus-k8s-discovery"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": NS}]


def test_linkerd_proxies_and_control_plane_are_scraped_as_linkerd_documents(platform_render):
    proxy = find(platform_render, "PodMonitor", "linkerd-proxy")["spec"]
    assert proxy["namespaceSelector"] == {"any": True}
    relabel = proxy["podMetricsEndpoints"][0]["relabelings"]
    keep = relabel[0]
    assert keep["action"] == "keep"
    assert re.fullmatch(keep["regex"].strip("^$"), "linkerd-proxy;linkerd-admin;linkerd")
    assert not re.fullmatch(keep["regex"].strip("^$"), "task-api;http;linkerd")
    assert relabel[-1] == {"action": "replace", "targetLabel": "job", "replacement": "linkerd-proxy"}
    assert {"action": "labelmap", "regex": "__meta_kubernetes_pod_label_linkerd_io_proxy_(.+)"} in relabel
    controller = find(platform_render, "PodMonitor", "linkerd-controller")["spec"]
    assert controller["namespaceSelector"] == {"matchNames": ["linkerd", "linkerd-viz"]}
    rules = controller["podMetricsEndpoints"][0]["relabelings"]
    assert rules[0]["sourceLabels"] == ["__meta_kubernetes_pod_container_port_name"] and rules[0]["action"] == "keep"
    assert rules[-1]["replacement"] == "linkerd-controller"


def _chart_port_names(render, name):
    """Container port names in the templates of the chart a rendered HelmChart carries."""
    chart = [o for o in render.objects.values() if o["kind"] == "HelmChart" and o["metadata"]["name"] == name]
    assert len(chart) == 1, f"HelmChart {name}: {len(chart)} rendered"
    data = base64.b64decode(chart[0]["spec"]["chartContent"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        texts = [tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isreg() and "/templates/" in m.name]
    return {m for text in texts for m in re.findall(r"- containerPort: \S+\n\s+name: ([a-z0-9-]+)", text)}


def _prometheus_keeps(rules, port):
    """Whether the keep/drop relabelings on the port name keep a target (Prometheus anchors regexes)."""
    for rule in rules:
        if rule.get("sourceLabels") != ["__meta_kubernetes_pod_container_port_name"]:
            continue
        matched = re.fullmatch(rule["regex"], port) is not None
        if (rule["action"] == "keep" and not matched) or (rule["action"] == "drop" and matched):
            return False
    return True


def test_linkerd_controller_job_keeps_every_admin_port_of_the_control_plane_and_viz(platform_render):
    """viz's own Prometheus keeps `.*admin$` in job linkerd-controller
    (viz/charts/linkerd-viz/templates/prometheus.yaml, edge-26.8.3): the viz components name
    their port plain `admin`, the control plane `<component>-admin`; the proxies' linkerd-admin
    is job linkerd-proxy's."""
    rules = find(platform_render, "PodMonitor", "linkerd-controller")["spec"]["podMetricsEndpoints"][0]["relabelings"]
    ports = _chart_port_names(platform_render, "linkerd-control-plane") | _chart_port_names(
        platform_render, "linkerd-viz"
    )
    admin = {p for p in ports if p == "admin" or p.endswith("-admin")} - {"linkerd-admin"}
    assert "admin" in admin and "dest-admin" in admin, sorted(ports)
    assert [p for p in sorted(admin) if not _prometheus_keeps(rules, p)] == []
    assert [p for p in sorted(ports - admin) if _prometheus_keeps(rules, p)] == []


def test_linkerd_controller_keep_regex_is_upstream_vizs():
    prometheus = upstream_path("linkerd/edge-26.8.3/viz/charts/linkerd-viz/templates/prometheus.yaml")
    job = prometheus.read_text().split("job_name: 'linkerd-controller'")[1].split("job_name:")[0]
    upstream = re.search(r"action: keep\n\s+regex: (\S+)", job).group(1)
    template = (ROLE / "templates/objects.yaml.j2").read_text()
    ours = re.search(r"linkerd-controller.*?action: keep, regex: ([^}]+)}", template, re.S).group(1).strip()
    assert ours == upstream


def test_traefik_and_the_registry_are_scraped(platform_render):
    traefik = find(platform_render, "PodMonitor", "traefik")["spec"]
    assert traefik["namespaceSelector"] == {"matchNames": ["kube-system"]}
    assert traefik["selector"] == {"matchLabels": {"app.kubernetes.io/name": "traefik"}}
    assert traefik["podMetricsEndpoints"][0]["port"] == "metrics"
    registry = find(platform_render, "ScrapeConfig", "registry")["spec"]
    assert registry["jobName"] == "registry"
    assert registry["staticConfigs"][0]["targets"] == [f"{platform_render.domains['registry']}:5001"]


# --- Grafana ------------------------------------------------------------------------------


def test_grafana_admin_comes_from_a_secret_equal_to_the_credential(platform_render):
    _unused, container = grafana_container(platform_render)
    env = {e["name"]: e for e in container["env"]}
    for name, key in (("GF_SECURITY_ADMIN_USER", "admin-user"), ("GF_SECURITY_ADMIN_PASSWORD", "admin-password")):
        assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "grafana-admin", "key": key}}}
    secret = find(platform_render, "Secret", "grafana-admin")
    password = credential(platform_render, "monitoring/grafana-admin-password")
    assert len(password) >= 32
    assert secret_value(secret, "admin-password") == password
    assert secret_value(secret, "admin-user") == "admin"
    assert password not in json.dumps(grafana_ini(platform_render)._sections)


def test_grafana_signs_in_with_keycloak_trusting_the_local_ca(platform_render):
    ini = grafana_ini(platform_render)
    issuer = "https://keycloak.local/realms/gauntlet"
    oauth = ini["auth.generic_oauth"]
    assert oauth["enabled"] == "true" and oauth["client_id"] == "grafana"
    assert oauth["auth_url"] == f"{issuer}/protocol/openid-connect/auth"
    assert oauth["token_url"] == f"{issuer}/protocol/openid-connect/token"
    assert oauth["api_url"] == f"{issuer}/protocol/openid-connect/userinfo"
    assert "client_secret" not in oauth
    pod, container = grafana_container(platform_render)
    env = {e["name"]: e for e in container["env"]}
    assert env["GF_SERVER_ROOT_URL"]["value"] == "https://grafana.local/"
    assert env["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "grafana-oidc", "key": "client-secret"}
    }
    assert secret_value(find(platform_render, "Secret", "grafana-oidc"), "client-secret") == credential(
        platform_render, "keycloak/client-grafana"
    )
    # The CA file Grafana is told to trust is mounted from the local CA's certificate.
    ca_path = Path(oauth["tls_client_ca"])
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(ca_path.parent))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    configmap = find(platform_render, "ConfigMap", volume["configMap"]["name"])
    assert configmap["data"][ca_path.name] == (platform_render.credentials / "ca" / "ca.crt").read_text()
    assert oauth["tls_skip_verify_insecure"] == "false"


def test_grafana_datasources_are_provisioned(platform_render):
    _unused, container = grafana_container(platform_render)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/etc/grafana/provisioning/datasources"] == "grafana-datasources"
    datasources = yaml.safe_load(
        secret_value(find(platform_render, "Secret", "grafana-datasources"), "datasources.yaml")
    )
    by_type = {d["type"]: d for d in datasources["datasources"]}
    assert by_type["prometheus"]["url"] == "http://prometheus-k8s.monitoring.svc:9090"
    assert by_type["prometheus"]["isDefault"] is True
    assert by_type["alertmanager"]["url"] == "http://alertmanager-main.monitoring.svc:9093"
    service_ports = {p["port"] for p in find(platform_render, "Service", "prometheus-k8s")["spec"]["ports"]}
    assert 9090 in service_ports


def dashboards(render):
    out = {}
    for obj in kinds(render, "ConfigMap"):
        if obj["metadata"]["name"].startswith("grafana-dashboard-"):
            for key, text in obj["data"].items():
                out[(obj["metadata"]["name"], key)] = json.loads(text)
    return out


def exprs(board):
    return [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "expr" in t]


def test_every_dashboard_parses_is_mounted_and_provisioned(platform_render):
    boards = dashboards(platform_render)
    assert len(boards) >= 20
    pod, container = grafana_container(platform_render)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounted = {volumes[m["name"]]["configMap"]["name"]: m["mountPath"] for m in container["volumeMounts"]
               if "configMap" in volumes[m["name"]]}  # fmt: skip
    providers = yaml.safe_load(find(platform_render, "ConfigMap", "grafana-dashboards")["data"]["dashboards.yaml"])
    paths = [p["options"]["path"] for p in providers["providers"]]
    uids = [board["uid"] for board in boards.values()]
    assert len(uids) == len(set(uids)), "dashboard uids collide"
    for (configmap, _unused), board in boards.items():
        assert board["title"] and board["panels"]
        assert configmap in mounted, f"{configmap} is not mounted"
        assert any(mounted[configmap].startswith(path + "/") for path in paths), (
            f"{configmap} is outside every provider"
        )


@pytest.mark.parametrize(
    ("name", "metrics"),
    [
        ("task-api", {"task_api_http_requests_total", "task_api_http_request_duration_seconds_bucket", "task_api_db_pool_in_use"}),
        ("cnpg", {"cnpg_collector_up", "cnpg_pg_replication_lag", "cnpg_pg_replication_in_recovery", "cnpg_backends_total"}),
        ("linkerd", {"request_total", "response_total", "response_latency_ms_bucket"}),
        ("cluster", {"node_cpu_seconds_total", "node_filesystem_avail_bytes", "kube_pod_status_phase",
                     "kube_pod_container_status_restarts_total", "up"}),
    ],
)  # fmt: skip
def test_platform_dashboards_query_the_metrics_they_are_about(platform_render, name, metrics):
    board = dashboards(platform_render)[(f"grafana-dashboard-gauntlet-{name}", f"{name}.json")]
    assert "gauntlet" in board["tags"]
    used = {
        m for expr in exprs(board) for m in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*(?=\{|\[|\s*\)|\s*$|\s*[-/*+])", expr)
    }
    assert metrics <= used, f"{name}: missing {sorted(metrics - used)}"
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"] == {"type": "prometheus", "uid": "prometheus"}


def test_task_api_dashboard_uses_only_metrics_the_service_exports(platform_render):
    code = (REPO / "apps/task-api/task_api/metrics.py").read_text()
    exported = set(re.findall(r'"(task_api_[a-z_]+)"', code))
    exported |= {f"task_api_http_request_duration_seconds_{s}" for s in ("bucket", "sum", "count")}
    board = dashboards(platform_render)[("grafana-dashboard-gauntlet-task-api", "task-api.json")]
    used = {m for expr in exprs(board) for m in re.findall(r"\btask_api_[a-z_]+", expr)}
    assert used and used <= exported, sorted(used - exported)


# --- Web access -----------------------------------------------------------------------------


def ingress_of(render, name):
    ingress = find(render, "Ingress", name)
    rule = ingress["spec"]["rules"][0]
    assert ingress["spec"]["tls"] == [{"hosts": [rule["host"]]}]
    return ingress, rule["host"], rule["http"]["paths"][0]["backend"]["service"]


TRAEFIK_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
}


def test_grafana_is_published_with_its_own_login(platform_render):
    ingress, host, backend = ingress_of(platform_render, "grafana")
    assert host == platform_render.domains["grafana"]
    assert backend == {"name": "grafana", "port": {"name": "http"}}
    assert "traefik.ingress.kubernetes.io/router.middlewares" not in ingress["metadata"]["annotations"]
    assert {p["name"] for p in find(platform_render, "Service", "grafana")["spec"]["ports"]} >= {"http"}
    # Traefik may reach Grafana through its NetworkPolicy, and Grafana may reach Alertmanager.
    grafana_policy = find(platform_render, "NetworkPolicy", "grafana")["spec"]["ingress"]
    assert {"from": [TRAEFIK_PEER], "ports": [{"port": 3000, "protocol": "TCP"}]} in grafana_policy
    alertmanager_policy = find(platform_render, "NetworkPolicy", "alertmanager-main")["spec"]["ingress"]
    assert {"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "grafana"}}}],
            "ports": [{"port": 9093, "protocol": "TCP"}]} in alertmanager_policy  # fmt: skip


def test_prometheus_and_alertmanager_are_published_behind_basic_auth(platform_render):
    password = credential(platform_render, "monitoring/basic-auth-password")
    assert len(password) >= 32
    secret = find(platform_render, "Secret", "basic-auth")
    assert secret["type"] == "kubernetes.io/basic-auth"
    assert secret_value(secret, "username") == "admin" and secret_value(secret, "password") == password
    middleware = find(platform_render, "Middleware", "basic-auth")
    assert middleware["apiVersion"] == "traefik.io/v1alpha1"
    assert middleware["spec"]["basicAuth"]["secret"] == "basic-auth"
    for name, service, port in (("prometheus", "prometheus-k8s", 9090), ("alertmanager", "alertmanager-main", 9093)):
        ingress, host, backend = ingress_of(platform_render, name)
        assert host == platform_render.domains[name]
        assert ingress["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.middlewares"] == (
            "monitoring-basic-auth@kubernetescrd"
        )
        assert backend == {"name": service, "port": {"name": "web"}}
        policy = find(platform_render, "NetworkPolicy", service)["spec"]["ingress"]
        assert {"from": [TRAEFIK_PEER], "ports": [{"port": port, "protocol": "TCP"}]} in policy
    assert find(platform_render, "Prometheus", "k8s")["spec"]["externalUrl"] == "https://prometheus.local/"
    assert find(platform_render, "Alertmanager", "main")["spec"]["externalUrl"] == "https://alertmanager.local/"
    # The Middleware is applied before the Ingresses that name it (files are named by apply position).
    position = {
        (o["kind"], o["metadata"]["name"]): int(p.name.split("-", 1)[0]) for p, o in objects(platform_render).items()
    }
    assert position[("Middleware", "basic-auth")] < position[("Ingress", "prometheus")]
    assert position[("Middleware", "basic-auth")] < position[("Ingress", "alertmanager")]


@pytest.fixture(scope="module")
def internal(platform_render, render_tools, tmp_path_factory):
    """The monitoring role rendered again with Prometheus and Alertmanager kept internal."""
    work = tmp_path_factory.mktemp("internal")
    out = work / "render"
    shutil.copytree(platform_render.dir, out)  # unchanged objects are not rewritten
    extra = {
        "gauntlet_render_dir": str(out),
        "gauntlet_credentials_dir": str(platform_render.credentials),
        "gauntlet_bundle_dir": str(platform_render.bundle),
        "monitoring_prometheus_ingress": False,
        "monitoring_alertmanager_ingress": False,
    }
    result = render_tools.run_playbook(REPO / "playbooks/platform.yml", "--tags", "monitoring", "-e", json.dumps(extra))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    from types import SimpleNamespace

    return SimpleNamespace(
        objects={p.relative_to(out): yaml.safe_load(p.read_text()) for p in sorted(out.rglob("*.yaml"))},
        credentials=platform_render.credentials,
        domains=platform_render.domains,
    )


def test_internal_prometheus_and_alertmanager_are_not_published(internal, render_tools):
    assert [i["metadata"]["name"] for i in kinds(internal, "Ingress")] == ["grafana"]
    assert kinds(internal, "Middleware") == []
    assert not [s for s in kinds(internal, "Secret") if s["metadata"]["name"] == "basic-auth"]
    assert "externalUrl" not in find(internal, "Prometheus", "k8s")["spec"]
    assert "externalUrl" not in find(internal, "Alertmanager", "main")["spec"]
    for service in ("prometheus-k8s", "alertmanager-main"):
        policy = find(internal, "NetworkPolicy", service)["spec"]["ingress"]
        assert all(TRAEFIK_PEER not in rule["from"] for rule in policy), service
    for path, obj in internal.objects.items():
        if path.parts[0] == NS:
            render_tools.validate_object(obj)


# --- Alerting rules -------------------------------------------------------------------------


def test_local_ca_expiry_series_is_the_ca_certificates_end(platform_render):
    from cryptography import x509

    cert = x509.load_pem_x509_certificate((platform_render.credentials / "ca" / "ca.crt").read_bytes())
    rule = find(platform_render, "PrometheusRule", "gauntlet-platform")
    records = [r for g in rule["spec"]["groups"] for r in g["rules"]
               if r.get("record") == "gauntlet_local_ca_expiration_timestamp_seconds"]  # fmt: skip
    assert len(records) == 1
    assert records[0]["expr"] == f"vector({int(cert.not_valid_after_utc.timestamp())})"
    assert records[0]["labels"]["ca"] == cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def test_rule_thresholds_follow_the_role_defaults(platform_render):
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    rules = {r.get("alert"): r for g in find(platform_render, "PrometheusRule", "gauntlet-platform")["spec"]["groups"]
             for r in g["rules"]}  # fmt: skip
    assert (
        rules["TaskApiHighErrorRate"]["expr"]
        .rstrip()
        .endswith(f"> {defaults['monitoring_alert_task_api_error_ratio']}")
    )
    assert (
        rules["TaskApiHighLatency"]["expr"]
        .rstrip()
        .endswith(f"> {defaults['monitoring_alert_task_api_latency_seconds']}")
    )
    days = defaults["monitoring_alert_certificate_days"] * 86400
    for alert in ("K3sCertificateExpiringSoon", "LinkerdIssuerCertificateExpiringSoon", "LocalCaExpiringSoon"):
        assert rules[alert]["expr"].rstrip().endswith(f"< {days}"), alert
    assert (
        rules["CnpgMetricsMissing"]["expr"] == 'absent(cnpg_collector_up{namespace="database", cluster="platform-db"})'
    )


# --- Strict validation ----------------------------------------------------------------------


def test_every_monitoring_object_validates_strictly(platform_render, render_tools):
    for component in (NS, "monitoring-crds"):
        for path, obj in objects(platform_render, component).items():
            try:
                render_tools.validate_object(obj)
            except Exception as exc:
                pytest.fail(f"{path}: {exc}")


def test_role_argument_specs_equal_the_defaults():
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert list(specs) == list(defaults)
    for name, value in defaults.items():
        assert specs[name]["default"] == value, name
        assert specs[name]["description"], name


def test_kube_state_metrics_collects_no_secrets_and_only_what_it_may_list(platform_render):
    """Review M2: no secrets collector; every collector it runs is one its ClusterRole lets it list."""
    pod = find(platform_render, "Deployment", "kube-state-metrics")["spec"]["template"]["spec"]
    args = next(c for c in pod["containers"] if c["name"] == "kube-state-metrics")["args"]
    resources = [a.split("=", 1)[1].split(",") for a in args if a.startswith("--resources=")]
    assert len(resources) == 1, "kube-state-metrics must run with an explicit --resources list"
    listable = {
        resource
        for rule in find(platform_render, "ClusterRole", "kube-state-metrics")["rules"]
        if "list" in rule["verbs"]
        for resource in rule["resources"]
    }
    assert "secrets" not in resources[0] and "secrets" not in listable
    assert set(resources[0]) <= listable, sorted(set(resources[0]) - listable)


def test_prometheus_operator_is_scoped_to_its_namespace_for_secrets(platform_render):
    pod = find(platform_render, "Deployment", "prometheus-operator")["spec"]["template"]["spec"]
    args = next(c for c in pod["containers"] if c["name"] == "prometheus-operator")["args"]
    assert not [a for a in args if a.startswith("--watch-referenced-objects-in-all-namespaces")]
    for flag in ("prometheus-instance", "alertmanager-instance", "alertmanager-config", "thanos-ruler-instance"):
        assert f"--{flag}-namespaces={NS}" in args
