"""One place per decision: where the local CA certificate and the kubeconfig live, whether a
bundle file may be used, how upstream objects are changed.

Every role, playbook and plugin on the controller reads the local CA certificate and the
kubeconfig through the two contract variables `gauntlet_ca_cert` and `gauntlet_kubeconfig`,
defined once, in the collection's contracts (roles/gauntlet/defaults/main/contracts.yml;
issue 16, items 2 and 3). A role default, task or module example that spells the path itself
again (`<credentials>/ca/ca.crt`, `<credentials>/kubeconfig.yaml`) drifts as soon as a site
moves either file.
"""

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "roles/gauntlet/defaults/main/contracts.yml"
SEARCHED = ("roles", "playbooks", "plugins", "meta")
SPELLINGS = {
    "gauntlet_ca_cert": re.compile(r"ca/ca\.crt"),
    "gauntlet_kubeconfig": re.compile(r"/kubeconfig\.yaml"),
}
# The producer's own layout, not a reader of the contract: role local_ca writes
# <local_ca_dir>/ca.crt, and monitoring imports it with its own local_ca_dir and reads back
# the certificate it has just made there (its expiry becomes a Prometheus series).
PRODUCERS = {("roles/monitoring/tasks/credentials.yml", "gauntlet_ca_cert")}


def searched_files():
    for root in SEARCHED:
        yield from sorted(
            p for p in (REPO / root).rglob("*") if p.is_file() and p.suffix in {".yml", ".yaml", ".py", ".j2"}
        )


@pytest.mark.parametrize("variable", sorted(SPELLINGS))
def test_the_contract_variable_is_defined_once_in_the_collection(variable):
    data = yaml.safe_load(CONTRACT.read_text())
    assert variable in data, f"{variable} is not defined in {CONTRACT.relative_to(REPO)}"
    assert SPELLINGS[variable].search(data[variable]), data[variable]
    assert "gauntlet_credentials_dir" in data[variable], "the default stays under the credentials folder"
    declared = yaml.safe_load((REPO / "meta/inventory_variables.yml").read_text())["options"]
    assert declared[variable]["type"] == "path"


@pytest.mark.parametrize("variable", sorted(SPELLINGS))
def test_nothing_else_spells_the_path_again(variable):
    found = []
    for path in searched_files():
        relative = str(path.relative_to(REPO))
        if (relative, variable) in PRODUCERS or path == CONTRACT:
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if SPELLINGS[variable].search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, f"use {variable} instead of spelling its path again:\n" + "\n".join(found)


def test_a_bundle_file_is_checked_against_the_lock_in_one_place():
    """Whether a bundle file may be used (listed, present, same sha256, base of a delta) is decided
    by plugins/module_utils/bundle/file.py alone; the k3s stage once wrote the same check again in
    Jinja beside the bundle_file lookup (issue 16, item 3). The check's own words mark a copy."""
    owner = "plugins/module_utils/bundle/file.py"
    copies = [
        str(path.relative_to(REPO))
        for path in searched_files()
        if "but the lock says" in path.read_text() and str(path.relative_to(REPO)) != owner
    ]
    assert not copies, f"the bundle file check is written again outside {owner}: {copies}"
    assert "but the lock says" in (REPO / owner).read_text()


# --- Upstream objects are changed by overlays only -------------------------------------------
# A role adapts the objects of an upstream manifest (read with the bundle_manifest lookup) with
# filter k8s_overlay (its strict rules: an overlay must land, lists of named items merge by name)
# and leaves objects out or moves them with k8s_drop_objects / k8s_move_to_namespace, the same
# module's. Before issue 16 item 3, monitoring merged its own patches (k8s_patch_objects, lists
# replaced, a renamed object's drop ignored) and cnpg combined the upstream Namespace inline.
#
# The check follows names, not values: a variable (set_fact, vars, a role's vars or defaults, a
# template's {% set %} or {% for %}) whose definition reads bundle_manifest or such a variable
# holds upstream data; no Jinja expression that reads one may merge with combine. It cannot see
# a merge that passes through a name it does not know (a module argument computed elsewhere).
MERGING = re.compile(r"\b(combine|lists_mergeby)\b")
# Derived, not changed: a new ClusterRole of the platform's own, built from the verbs upstream's
# cnpg-manager grants the cluster-scoped kinds it keeps.
DERIVED = {"roles/cnpg/templates/operator-rbac.yaml.j2"}
_NAME = re.compile(r"[A-Za-z_]\w*")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_ATTRIBUTE = re.compile(r"\.\s*[A-Za-z_]\w*")
_TEMPLATE_SET = re.compile(r"{%-?\s*set\s+(\w+)\s*=(.*?)-?%}", re.DOTALL)
_TEMPLATE_FOR = re.compile(r"{%-?\s*for\s+([\w\s,]+?)\s+in\s+(.*?)-?%}", re.DOTALL)
_TEMPLATE_EXPRESSION = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.DOTALL)


def _strings(value):
    """The Jinja inside a YAML value's strings (the text around it is literal)."""
    if isinstance(value, str):
        yield "\n".join(a or b for a, b in _TEMPLATE_EXPRESSION.findall(value))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _yaml_definitions(data):
    """(name, value) of set_fact and vars mappings, and loop variables, anywhere in a task file."""
    if isinstance(data, list):
        for item in data:
            yield from _yaml_definitions(item)
    elif isinstance(data, dict):
        for key, value in data.items():
            if key in ("vars", "ansible.builtin.set_fact", "set_fact") and isinstance(value, dict):
                yield from value.items()
            yield from _yaml_definitions(value)
        loop_var = (
            (data.get("loop_control") or {}).get("loop_var") if isinstance(data.get("loop_control"), dict) else None
        )
        if loop_var and "loop" in data:
            yield loop_var, data["loop"]


def role_expressions(role: Path):
    """Definitions and expressions of one role: ({name: [expression, ...]}, [(file, expression), ...])."""
    definitions, expressions = {}, []
    for path in sorted(role.rglob("*")):
        relative = str(path.relative_to(REPO))
        if path.suffix in {".yml", ".yaml"} and path.parent.name in {"tasks", "vars", "defaults", "handlers"}:
            data = yaml.safe_load(path.read_text())
            pairs = list(data.items()) if path.parent.name in {"vars", "defaults"} and isinstance(data, dict) else []
            pairs += list(_yaml_definitions(data))
            for name, expression in pairs:
                definitions.setdefault(name, []).append("\n".join(_strings(expression)))
            expressions += [(relative, text) for text in _strings(data) if text]
        elif path.suffix == ".j2":
            text = path.read_text()
            for pattern in (_TEMPLATE_SET, _TEMPLATE_FOR):
                for names, expression in pattern.findall(text):
                    for name in _NAME.findall(names):
                        definitions.setdefault(name, []).append(expression)
            expressions += [(relative, a or b) for a, b in _TEMPLATE_EXPRESSION.findall(text)]
    return definitions, expressions


def names_in(expression: str) -> set:
    """The variable names a Jinja expression reads (not the words of its string literals, nor attributes)."""
    return set(_NAME.findall(_ATTRIBUTE.sub("", _QUOTED.sub("", expression))))


def upstream_names(definitions: dict) -> set:
    """The names whose definitions read an upstream manifest, directly or through another such name."""
    found = set()
    while True:
        more = {
            name
            for name, texts in definitions.items()
            if name not in found and any("bundle_manifest" in text or found & names_in(text) for text in texts)
        }
        if not more:
            return found
        found |= more


def upstream_merges(roles_dir: Path) -> tuple[dict, list]:
    """({role: upstream names}, [file: expression that merges upstream data with combine])."""
    names_by_role, merges = {}, []
    for role in sorted(p for p in roles_dir.iterdir() if p.is_dir()):
        definitions, expressions = role_expressions(role)
        names = upstream_names(definitions)
        if names:
            names_by_role[role.name] = names
        for relative, expression in expressions:
            if relative not in DERIVED and MERGING.search(expression) and names & names_in(expression):
                merges.append(f"{relative}: {' '.join(expression.split())[:200]}")
    return names_by_role, merges


def test_upstream_objects_are_changed_by_overlays_only():
    names_by_role, merges = upstream_merges(REPO / "roles")
    # The check sees the roles that read upstream manifests (else it would pass on nothing).
    assert {"argocd", "cnpg", "monitoring"} <= set(names_by_role), names_by_role
    assert {"__cnpg_upstream", "__argocd_upstream", "__monitoring_upstream_index", "up"} <= set().union(
        *names_by_role.values()
    )
    assert not merges, (
        "upstream objects are changed with gauntlet.platform.k8s_overlay (overlays), k8s_drop_objects and "
        "k8s_move_to_namespace, not merged inline:\n" + "\n".join(merges)
    )
    for role in ("argocd", "cnpg", "monitoring"):
        texts = [text for path in (REPO / "roles" / role / "tasks").glob("*.yml") for text in [path.read_text()]]
        assert any("gauntlet.platform.k8s_overlay(" in text for text in texts), (
            f"{role} adapts upstream with k8s_overlay"
        )


def test_argocd_applications_are_judged_in_one_place():
    """What Synced and Healthy means is decided by plugins/module_utils/verify/argocd.py, for the
    argocd role's wait and report and for the verify row (issue 16, item 3): the role once judged
    the same status fields again in Jinja. A comparison with Argo CD's status words marks a copy."""
    owner = "plugins/module_utils/verify/argocd.py"
    judged = re.compile(
        r"""(==|!=|equalto)\s*\(?\s*['"](Synced|Healthy)['"]|selectattr\(\s*['"]status\.(sync|health)"""
    )
    copies = [
        f"{path.relative_to(REPO)}:{number}"
        for path in searched_files()
        if str(path.relative_to(REPO)) != owner
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if judged.search(line)
    ]
    assert not copies, f"an Argo CD Application is judged again outside {owner}: {copies}"


def test_a_keycloak_token_is_judged_in_one_place():
    """The keycloak role's own check and the verify row judge the test user's token with the same
    filter, verify_keycloak_token (module_utils/verify/services.py); the role once decoded the
    token and compared its claims in Jinja."""
    role = (REPO / "roles/keycloak/tasks/verify.yml").read_text()
    assert "gauntlet.platform.verify_keycloak_token(" in role
    assert "gauntlet.platform.verify_keycloak_token(" in (REPO / "roles/verify/tasks/auth.yml").read_text()
    assert "jwt_claims" not in role and "realm_access" not in role


# --- Namespaces: gauntlet_namespaces decides, every role reads it ---------------------------
NAMESPACES = yaml.safe_load(CONTRACT.read_text())["gauntlet_namespaces"]
_NAMESPACE_NAMES = "|".join(sorted((re.escape(name) for name in NAMESPACES.values()), key=len, reverse=True))
# Where a namespace is named: a namespace key or *_namespace variable, a peer's namespaceSelector,
# a service's cluster DNS name, a --*-namespaces= argument, a name piped into a filter that
# builds a namespace's objects, a list of namespaces.
LITERAL_NAMESPACE = re.compile(
    rf"""(namespace:\s*['"]?({_NAMESPACE_NAMES})['"]?\s*([,}}\]]|$)"""
    rf"""|metadata\.name:\s*['"]?({_NAMESPACE_NAMES})['"]?\s*([,}}]|$)"""
    rf"""|\.({_NAMESPACE_NAMES})\.svc\b"""
    rf"""|namespaces=({_NAMESPACE_NAMES})\b"""
    rf"""|['"]({_NAMESPACE_NAMES})['"]\s*\|\s*gauntlet\.platform\.(platform_namespace|namespace_network_policies|mesh_\w+_policy)\b"""
    rf"""|_namespaces:\s*\[[^\]]*\b({_NAMESPACE_NAMES})\b)"""
)


def _without_comments(path: Path) -> list[tuple[int, str]]:
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.lstrip().startswith(("#", "{#")):
            continue
        lines.append((number, line))
    return lines


def test_no_role_names_a_component_namespace_itself():
    """Each component's namespace is gauntlet_namespaces' entry (the collection's contracts): the
    roles' own variables default to it and every other role's policies, URLs and RBAC subjects
    read it, so a site that moves a namespace moves it everywhere. The roles once kept their own
    copies equal by hand (argocd_namespace: argocd, __monitoring_namespace: monitoring, 'monitoring'
    in the monitoring objects, RoleBinding subjects in namespace monitoring)."""
    found = []
    for path in sorted((REPO / "roles").rglob("*")):
        if not path.is_file() or path.suffix not in {".yml", ".j2"}:
            continue
        for number, line in _without_comments(path):
            if path == CONTRACT and re.match(rf"\s+\w+:\s*({_NAMESPACE_NAMES})\s*$", line):
                continue  # gauntlet_namespaces itself: the one place
            if LITERAL_NAMESPACE.search(line):
                found.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not found, "read the namespace from gauntlet_namespaces instead:\n" + "\n".join(found)


def test_validation_knows_every_namespace_of_the_contract():
    """A site's gauntlet_namespaces replaces the collection's whole mapping (Ansible replaces a
    mapping, it does not merge it): validation names an entry it lacks, so it must know them all."""
    spec = yaml.safe_load((REPO / "meta/inventory_variables.yml").read_text())["options"]["gauntlet_namespaces"]
    assert set(spec["options"]) == set(NAMESPACES)
    assert all(option == {"type": "str", "required": True} for option in spec["options"].values())
