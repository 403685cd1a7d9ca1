"""The k3s CIS hardening settings each node gets (issue 18 item 9, security review M6).

The k3s role's real templates (config.yaml, the admission configuration, the audit policy and
the default-ServiceAccount manifest) run through ansible-playbook for three servers and an agent
that are all `connection: local` (tests/k3s_local.py): no host is contacted.

Upstream sources the expectations come from (cited, not copied):
- k3s-io/docs docs/security/hardening-guide.md ("v1.29 and Newer"): the kube-apiserver args
  `enable-admission-plugins=NodeRestriction,EventRateLimit`,
  `service-account-extend-token-expiration=false`, the kubelet `tls-cipher-suites` list, and
  control 5.1.5 (default ServiceAccounts in default, kube-node-lease, kube-public not automounted).
- k3s pkg/daemons/control/server.go: k3s passes `enable-admission-plugins=NodeRestriction` itself
  and a `kube-apiserver-arg` of the same name replaces it, so NodeRestriction must be repeated.
- Kubernetes v1.36: plugin/pkg/admission/eventratelimit/apis/eventratelimit/v1alpha1/types.go
  and validation/validation.go (limit types, qps/burst > 0); k8s.io/apiserver
  pkg/audit/policy/checker.go (first matching rule wins; the matcher below follows it).
"""

import os

import pytest
import yaml
from contract_paths import CONTRACT_PATHS
from k3s_local import HOSTS, K3S, REPO, node_play, run_play

PLAY = node_play(
    "Render each node's k3s files with the role's templates",
    after=f"""    - name: The role's server files
      ansible.builtin.template:
        src: "{K3S / "templates"}/{{{{ item }}}}.j2"
        dest: "{{{{ out }}}}/{{{{ inventory_hostname }}}}-{{{{ item }}}}"
        mode: "0600"
      loop: [admission.yaml, audit.yaml, default-serviceaccounts.yaml]
      when: inventory_hostname in groups['k3s_servers']
""",
)

# The hardening guide's kubelet list (k3s-io/docs hardening-guide.md, "v1.29 and Newer").
GUIDE_CIPHERS = [
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
]


def render(tmp_path, ansible_env, **extra):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    variables = {
        "out": str(out),
        "gauntlet_credentials_dir": str(tmp_path / "credentials"),
        **CONTRACT_PATHS,
        "gauntlet_versions": {"k3s": "v1.36.4+k3s1"},
        **extra,
    }
    result = run_play(tmp_path, ansible_env(tmp_path), PLAY, variables)
    assert result.returncode == 0, result.stdout + result.stderr
    files = {}
    for host in HOSTS:
        files[host] = {"config": yaml.safe_load((out / f"{host}.yaml").read_text())}
        for name in ("admission.yaml", "audit.yaml", "default-serviceaccounts.yaml"):
            path = out / f"{host}-{name}"
            if path.exists():
                files[host][name] = list(yaml.safe_load_all(path.read_text()))
    return files


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    def module_env(tmp_path):
        # As tests/conftest.py ansible_env, for a fixture shared by the module.
        return dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
            ANSIBLE_CACHE_PLUGIN_CONNECTION=str(tmp_path / "facts"),
            ANSIBLE_NOCOLOR="1",
        )

    return render(tmp_path_factory.mktemp("k3s-hardening"), module_env)


def args(config, key):
    """`kube-apiserver-arg` style list as {name: value}."""
    return dict(item.split("=", 1) for item in config.get(key, []))


def test_the_api_server_runs_event_rate_limit_next_to_node_restriction(rendered):
    for server in ("s1", "s2", "s3"):
        api = args(rendered[server]["config"], "kube-apiserver-arg")
        assert api["enable-admission-plugins"].split(",") == ["NodeRestriction", "EventRateLimit"], server
        assert api["admission-control-config-file"] == "/var/lib/rancher/k3s/server/psa.yaml", server


def test_the_admission_configuration_holds_a_valid_event_rate_limit(rendered):
    (admission,) = rendered["s1"]["admission.yaml"]
    assert admission["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert admission["kind"] == "AdmissionConfiguration"
    plugins = {plugin["name"]: plugin["configuration"] for plugin in admission["plugins"]}
    assert set(plugins) == {"PodSecurity", "EventRateLimit"}
    limit = plugins["EventRateLimit"]
    assert limit["apiVersion"] == "eventratelimit.admission.k8s.io/v1alpha1"
    assert limit["kind"] == "Configuration"
    # validation.go: at least one limit, a known type, qps and burst positive, cacheSize >= 0.
    assert limit["limits"]
    for entry in limit["limits"]:
        assert entry["type"] in {"Server", "Namespace", "User", "SourceAndObject"}
        assert set(entry) <= {"type", "qps", "burst", "cacheSize"}
        assert isinstance(entry["qps"], int) and entry["qps"] > 0
        assert isinstance(entry["burst"], int) and entry["burst"] > 0
        assert entry.get("cacheSize", 0) >= 0
    # One chatty namespace cannot use up the whole server's budget.
    assert {"Server", "Namespace"} <= {entry["type"] for entry in limit["limits"]}
    assert plugins["PodSecurity"]["defaults"]["enforce"] == "restricted"


def test_service_account_tokens_are_not_extended(rendered):
    for server in ("s1", "s2", "s3"):
        api = args(rendered[server]["config"], "kube-apiserver-arg")
        assert api["service-account-extend-token-expiration"] == "false", server
        assert api["service-account-lookup"] == "true", server


def test_every_kubelet_offers_only_the_guides_cipher_suites(rendered):
    for host in HOSTS:
        kubelet = args(rendered[host]["config"], "kubelet-arg")
        assert kubelet["tls-cipher-suites"].split(",") == GUIDE_CIPHERS, host


def test_servers_are_not_tainted_unless_asked_and_then_with_k3s_documented_taint(rendered, tmp_path, ansible_env):
    # Off by default (docs/k3s.md#dedicated-servers says why): no node carries a taint.
    assert all("node-taint" not in rendered[host]["config"] for host in HOSTS)
    tainted = render(tmp_path, ansible_env, k3s_server_taint=True)
    for server in ("s1", "s2", "s3"):
        # k3s-io/docs docs/datastore/ha.md: `--node-taint CriticalAddonsOnly=true:NoExecute`.
        assert tainted[server]["config"]["node-taint"] == ["CriticalAddonsOnly=true:NoExecute"], server
    assert "node-taint" not in tainted["a1"]["config"]


def test_kube_system_default_service_accounts_do_not_automount(rendered):
    accounts = rendered["s1"]["default-serviceaccounts.yaml"]
    assert {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in accounts} >= {
        ("default", "default"),
        ("kube-node-lease", "default"),
        ("kube-public", "default"),
    }
    for account in accounts:
        assert account["apiVersion"] == "v1" and account["kind"] == "ServiceAccount"
        assert account["automountServiceAccountToken"] is False


# --- The audit policy ----------------------------------------------------------------------


def rule_matches(rule, request):
    """k8s.io/apiserver pkg/audit/policy/checker.go ruleMatches, for the fields the policy uses."""
    if rule.get("users") and request.get("user") not in rule["users"]:
        return False
    if rule.get("userGroups") and not set(rule["userGroups"]) & set(request.get("groups", [])):
        return False
    if rule.get("verbs") and request["verb"] not in rule["verbs"]:
        return False
    if rule.get("namespaces") or rule.get("resources"):
        if "resource" not in request:
            return False
        if rule.get("namespaces") and request.get("namespace", "") not in rule["namespaces"]:
            return False
        if not rule.get("resources"):
            return True
        resource, _unused, sub = request["resource"].partition("/")
        for group_resources in rule["resources"]:
            if group_resources.get("group", "") not in (request.get("group", ""), "*"):
                continue
            names = group_resources.get("resources", [])
            if not names:
                return True
            for name in names:
                if name in (request["resource"], "*"):
                    return True
                if sub and name.startswith("*/") and name[2:] == sub:
                    return True
                if name.endswith("/*") and name[:-2] == resource:
                    return True
        return False
    if rule.get("nonResourceURLs"):
        if "resource" in request:
            return False
        return any(
            spec == "*" or (spec.endswith("*") and request["path"].startswith(spec[:-1])) or spec == request["path"]
            for spec in rule["nonResourceURLs"]
        )
    return True


def audit_level(policy, request):
    for rule in policy["rules"]:
        if rule_matches(rule, request):
            return rule["level"]
    return "None"


@pytest.mark.parametrize(
    ("request_", "level"),
    [
        # Bodies that carry credentials: metadata only, whatever the verb.
        ({"verb": "get", "resource": "secrets", "namespace": "gitea"}, "Metadata"),
        ({"verb": "create", "resource": "secrets", "namespace": "gitea"}, "Metadata"),
        ({"verb": "patch", "resource": "configmaps", "namespace": "kube-system"}, "Metadata"),
        ({"verb": "create", "resource": "serviceaccounts/token", "namespace": "drone"}, "Metadata"),
        ({"verb": "create", "group": "authentication.k8s.io", "resource": "tokenreviews"}, "Metadata"),
        # Who changed which permission, with the full objects.
        (
            {"verb": "create", "group": "rbac.authorization.k8s.io", "resource": "clusterrolebindings"},
            "RequestResponse",
        ),
        (
            {"verb": "patch", "group": "rbac.authorization.k8s.io", "resource": "roles", "namespace": "x"},
            "RequestResponse",
        ),
        ({"verb": "delete", "group": "rbac.authorization.k8s.io", "resource": "clusterroles"}, "RequestResponse"),
        # Interactive access into pods and nodes.
        ({"verb": "create", "resource": "pods/exec", "namespace": "database"}, "RequestResponse"),
        ({"verb": "get", "resource": "pods/exec", "namespace": "database"}, "RequestResponse"),
        ({"verb": "create", "resource": "pods/attach", "namespace": "database"}, "RequestResponse"),
        ({"verb": "create", "resource": "pods/portforward", "namespace": "database"}, "RequestResponse"),
        ({"verb": "get", "resource": "nodes/proxy"}, "RequestResponse"),
        # Other writes keep their request body (a privileged pod, a relabelled namespace).
        ({"verb": "create", "resource": "pods", "namespace": "task-api"}, "Request"),
        ({"verb": "patch", "resource": "namespaces"}, "Request"),
        (
            {"verb": "update", "group": "admissionregistration.k8s.io", "resource": "validatingadmissionpolicies"},
            "Request",
        ),
        # Reads: who looked at what.
        ({"verb": "list", "resource": "pods", "namespace": "task-api"}, "Metadata"),
        ({"verb": "get", "group": "rbac.authorization.k8s.io", "resource": "roles", "namespace": "x"}, "Metadata"),
        # Health probes and events are noise.
        ({"verb": "get", "path": "/readyz"}, "None"),
        ({"verb": "create", "resource": "events", "namespace": "x"}, "None"),
    ],
)
def test_the_audit_policy_records_each_request_at_its_level(rendered, request_, level):
    (policy,) = rendered["s1"]["audit.yaml"]
    assert policy["apiVersion"] == "audit.k8s.io/v1" and policy["kind"] == "Policy"
    assert audit_level(policy, request_) == level


def test_the_audit_policy_is_valid_and_skips_the_received_stage(rendered):
    (policy,) = rendered["s1"]["audit.yaml"]
    assert policy["omitStages"] == ["RequestReceived"]
    levels = {"None", "Metadata", "Request", "RequestResponse"}
    for rule in policy["rules"]:
        assert rule["level"] in levels
        assert set(rule) <= {
            "level",
            "users",
            "userGroups",
            "verbs",
            "resources",
            "namespaces",
            "nonResourceURLs",
            "omitStages",
        }
        # checker.go: a rule cannot name both resources and non-resource URLs.
        assert not (rule.get("nonResourceURLs") and (rule.get("resources") or rule.get("namespaces")))
        for url in rule.get("nonResourceURLs", []):
            assert url.startswith("/") and "*" not in url[:-1], url
    # The last rule catches everything else.
    assert policy["rules"][-1] == {"level": "Metadata"}
