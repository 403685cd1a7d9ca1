import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.platform_objects import FilterModule

F = FilterModule().filters()


def test_namespace_enforces_the_level_and_audits_restricted():
    ns = F["platform_namespace"]("gitea")
    labels = ns["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    assert "annotations" not in ns["metadata"]


def test_injected_namespace_enforces_restricted_and_never_privileged():
    """Linkerd runs with its CNI plugin: injection is no reason to lower the level (review C2)."""
    ns = F["platform_namespace"]("gitea", inject=True)
    assert ns["metadata"]["annotations"] == {"linkerd.io/inject": "enabled"}
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert (
        F["platform_namespace"]("builds", pod_security="baseline", inject=True)["metadata"]["labels"][
            "pod-security.kubernetes.io/enforce"
        ]
        == "baseline"
    )
    with pytest.raises(AnsibleFilterError, match="CNI plugin"):
        F["platform_namespace"]("gitea", pod_security="privileged", inject=True)


@pytest.mark.parametrize(("name", "level"), [("Gitea", "restricted"), ("gitea", "strict"), ("-x", "baseline")])
def test_namespace_bad_input(name, level):
    with pytest.raises(AnsibleFilterError, match="platform_namespace"):
        F["platform_namespace"](name, pod_security=level)


def test_ingress_routes_https_to_the_service():
    ing = F["platform_ingress"]("gitea", "gitea", "gitea.local", "gitea-http", 3000)
    assert ing["spec"]["ingressClassName"] == "traefik"
    assert ing["spec"]["tls"] == [{"hosts": ["gitea.local"]}]
    (rule,) = ing["spec"]["rules"]
    assert rule["host"] == "gitea.local"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "gitea-http", "port": {"number": 3000}}}
    assert ing["metadata"]["annotations"]["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"


def test_ingress_named_port_and_extra_annotations():
    ing = F["platform_ingress"]("web", "ns", "x.local", "svc", "http", path="/ui", annotations={"a": "b"})
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"name": "http"}
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/ui"
    assert ing["metadata"]["annotations"]["a"] == "b"


def test_ingress_routes_only_the_listed_paths():
    ing = F["platform_ingress"]("kc", "ns", "x.local", "svc", 8080, path=["/realms/r", "/resources", "/.well-known"])
    (rule,) = ing["spec"]["rules"]
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [
        ("/realms/r", "Prefix"),
        ("/resources", "Prefix"),
        ("/.well-known", "Prefix"),
    ]
    assert {str(p["backend"]) for p in rule["http"]["paths"]} == {
        str({"service": {"name": "svc", "port": {"number": 8080}}})
    }


@pytest.mark.parametrize("path", [[], ["/a", "b"], ["/a", "/a"], [None]])
def test_ingress_bad_path_list(path):
    with pytest.raises(AnsibleFilterError, match="path"):
        F["platform_ingress"]("web", "ns", "x.local", "svc", 80, path=path)


@pytest.mark.parametrize(
    ("host", "port", "path", "match"),
    [
        ("Gitea.Local", 80, "/", "host"),
        ("x.local", 0, "/", "port"),
        ("x.local", True, "/", "port"),
        ("x.local", 80, "ui", "path"),
    ],
)
def test_ingress_bad_input(host, port, path, match):
    with pytest.raises(AnsibleFilterError, match=match):
        F["platform_ingress"]("web", "ns", host, "svc", port, path=path)


SERVICES = {"tasks": "tasks.local", "keycloak": "keycloak.local", "registry": "registry.local"}


def test_ingress_host_policy_maps_each_domain_to_its_namespace():
    policy, binding = F["platform_ingress_host_policy"](
        SERVICES, {"tasks": "task-api", "keycloak": "keycloak", "x": "y"}
    )
    assert policy["kind"] == "ValidatingAdmissionPolicy" and binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    (variable,) = policy["spec"]["variables"]
    # The map is a CEL map literal; JSON string literals are valid CEL. The registry (no
    # namespace) and the service without a domain ("x") are absent.
    assert variable == {"name": "allowed", "expression": '{"keycloak.local": "keycloak", "tasks.local": "task-api"}'}
    assert [v["reason"] for v in policy["spec"]["validations"]] == ["Forbidden"] * 3


@pytest.mark.parametrize(
    ("services", "namespaces", "match"),
    [
        ({}, {}, "local_domains_services"),
        (SERVICES, ["task-api"], "mapping"),
        (SERVICES, {"tasks": "Task_API"}, "not a DNS label"),
        ({"tasks": "tasks local"}, {"tasks": "task-api"}, "not a DNS name"),
    ],
)
def test_ingress_host_policy_bad_input(services, namespaces, match):
    with pytest.raises(AnsibleFilterError, match=f"platform_ingress_host_policy: .*{match}"):
        F["platform_ingress_host_policy"](services, namespaces)
