"""The Ingress host policy: one namespace per local domain (security review C2, issue 18 item 2).

Role traefik renders a ValidatingAdmissionPolicy and its binding. Here they are validated
strictly against the Kubernetes API schema of the pinned minor, and their CEL expressions are
evaluated with cel-python (PyPI `cel-python`), an independent CEL implementation, over every
Ingress the platform and gitops/ create (all must be admitted) and over control cases (an
Ingress for another namespace's host, without a host, with a defaultBackend: refused). The
expressions are standard CEL only (no Kubernetes extension library), which cel-python
evaluates as the API server does. This is not the API server's admission: that test comes
with the control-plane tier (issue 13).
"""

import gitops_render
import playbook_runs
import pytest
import yaml
from needs import missing

POLICY_FILES = {
    "ValidatingAdmissionPolicy": "traefik/02-validatingadmissionpolicy-cluster-gauntlet-ingress-hosts.yaml",
    "ValidatingAdmissionPolicyBinding": "traefik/03-validatingadmissionpolicybinding-cluster-gauntlet-ingress-hosts.yaml",
}
PLAYBOOK = playbook_runs.role_play("traefik")


@pytest.fixture(scope="module")
def policy(tmp_path_factory, render_tools):
    out = render_tools.render_play(tmp_path_factory.mktemp("ingress-policy"), PLAYBOOK)
    objects = {}
    for kind, name in POLICY_FILES.items():
        path = out / name
        assert path.is_file(), f"role traefik rendered no {kind} ({name})"
        objects[kind] = yaml.safe_load(path.read_text())
    return objects


@pytest.fixture(scope="module")
def admit(policy):
    """admit(ingress, namespace) -> (allowed, messages), by the policy's own CEL expressions."""
    try:
        import celpy
    except ImportError:
        missing("cel-python is not installed (pip install cel-python, requirements-dev.txt)")
    env = celpy.Environment()

    def evaluate(expression, activation):
        return env.program(env.compile(expression)).evaluate(activation)

    spec = policy["ValidatingAdmissionPolicy"]["spec"]

    def run(ingress, namespace):
        request = {"namespace": namespace, "name": ingress["metadata"]["name"], "operation": "CREATE"}
        activation = {"object": celpy.json_to_cel(ingress), "request": celpy.json_to_cel(request)}
        # Variables are named expressions over the same activation (spec.variables, in order).
        variables = {}
        for variable in spec["variables"]:
            variables[variable["name"]] = evaluate(variable["expression"], {**activation, "variables": variables})
        activation["variables"] = celpy.celtypes.MapType(
            {celpy.celtypes.StringType(k): v for k, v in variables.items()}
        )
        refused = []
        for validation in spec["validations"]:
            result = evaluate(validation["expression"], activation)
            assert isinstance(result, celpy.celtypes.BoolType), f"{validation['expression']}: {result!r}"
            if not result:
                message = validation["message"]
                if "messageExpression" in validation:
                    message = str(evaluate(validation["messageExpression"], activation))
                refused.append(message)
        return not refused, refused

    return run


def ingress(namespace, *hosts, tls=None, default_backend=False, name="web"):
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "rules": [
                {
                    **({"host": h} if h else {}),
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
                for h in hosts
            ]
        },
    }
    if tls is not None:
        obj["spec"]["tls"] = [{"hosts": tls}]
    if default_backend:
        obj["spec"]["defaultBackend"] = backend
    return obj


def test_policy_and_binding_validate_against_the_api_schema(policy, render_tools):
    for obj in policy.values():
        render_tools.validate_object(obj)
    vap, binding = policy["ValidatingAdmissionPolicy"], policy["ValidatingAdmissionPolicyBinding"]
    assert binding["spec"]["policyName"] == vap["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert "matchResources" not in binding["spec"], "the binding must cover every namespace"
    assert vap["spec"]["failurePolicy"] == "Fail"
    (rule,) = vap["spec"]["matchConstraints"]["resourceRules"]
    assert rule["apiGroups"] == ["networking.k8s.io"] and rule["resources"] == ["ingresses"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE"}


def test_the_allowed_map_is_each_service_and_its_namespace(policy, admit, platform_render):
    """Every local domain but the directly served registry, each to exactly one namespace."""
    import celpy  # present: the admit fixture skipped otherwise

    expression = policy["ValidatingAdmissionPolicy"]["spec"]["variables"][0]["expression"]
    env = celpy.Environment()
    allowed = {str(k): str(v) for k, v in env.program(env.compile(expression)).evaluate({}).items()}
    domains = platform_render.domains
    assert set(allowed) == set(domains.values()) - {domains["registry"]}
    assert allowed[domains["tasks"]] == "task-api"
    assert allowed[domains["keycloak"]] == "keycloak"


def test_every_platform_and_gitops_ingress_is_admitted(admit, platform_render):
    ingresses = [(str(p), o) for p, o in platform_render.objects.items() if o["kind"] == "Ingress"]
    ingresses += [(f"gitops/{app}", o) for app, o in gitops_render.objects() if o["kind"] == "Ingress"]
    assert len(ingresses) >= 8
    for where, obj in ingresses:
        allowed, messages = admit(obj, obj["metadata"]["namespace"])
        assert allowed, f"{where}: refused: {messages}"


@pytest.mark.parametrize(
    ("namespace", "hosts", "tls", "default_backend", "allowed"),
    [
        # The control case: the right namespace is admitted, another namespace's host refused.
        ("task-api", ["tasks.local"], ["tasks.local"], False, True),
        ("task-api", ["keycloak.local"], None, False, False),
        ("keycloak", ["keycloak.local"], ["keycloak.local"], False, True),
        ("task-api", ["tasks.local", "keycloak.local"], None, False, False),
        ("task-api", ["tasks.local"], ["keycloak.local"], False, False),
        # No host catches every host (Traefik ranks a longer path first).
        ("task-api", [None], None, False, False),
        ("task-api", ["tasks.local"], None, True, False),
        # The registry is served directly: no Ingress may claim it; nor an unknown or wildcard host.
        ("task-api", ["registry.local"], None, False, False),
        ("task-api", ["*.local"], None, False, False),
        ("drone-builds", ["evil.example"], None, False, False),
    ],
)
def test_control_cases(admit, namespace, hosts, tls, default_backend, allowed):
    result, messages = admit(ingress(namespace, *hosts, tls=tls, default_backend=default_backend), namespace)
    assert result is allowed, messages
    if not allowed:
        assert messages and all(messages)


def test_refusal_names_the_ingress_and_namespace(admit):
    _unused, messages = admit(ingress("task-api", "keycloak.local", name="phish"), "task-api")
    assert messages == [
        "Ingress task-api/phish: every rule needs a host, and namespace task-api may publish only the hosts of its own"
        " services"
    ]
