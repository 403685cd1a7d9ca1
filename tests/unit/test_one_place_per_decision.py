"""One place per decision: where the local CA certificate and the kubeconfig live.

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
_NAME = "|".join(sorted((re.escape(name) for name in NAMESPACES.values()), key=len, reverse=True))
# Where a namespace is named: a namespace key or *_namespace variable, a peer's namespaceSelector,
# a service's cluster DNS name, a --*-namespaces= argument, a name piped into a filter that
# builds a namespace's objects, a list of namespaces.
LITERAL_NAMESPACE = re.compile(
    rf"""(namespace:\s*['"]?({_NAME})['"]?\s*([,}}\]]|$)"""
    rf"""|metadata\.name:\s*['"]?({_NAME})['"]?\s*([,}}]|$)"""
    rf"""|\.({_NAME})\.svc\b"""
    rf"""|namespaces=({_NAME})\b"""
    rf"""|['"]({_NAME})['"]\s*\|\s*gauntlet\.platform\.(platform_namespace|namespace_network_policies|mesh_\w+_policy)\b"""
    rf"""|_namespaces:\s*\[[^\]]*\b({_NAME})\b)"""
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
            if path == CONTRACT and re.match(rf"\s+\w+:\s*({_NAME})\s*$", line):
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
