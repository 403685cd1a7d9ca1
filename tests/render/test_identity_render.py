"""What the OIDC clients ask Keycloak for is what the keycloak role creates (review W7, W9).

Each client's side is read from the render of playbooks/platform.yml (argocd-cm's oidc.config
and argocd-rbac-cm, Grafana's grafana.ini); Keycloak's side is the keycloak role's variables
(its defaults), fed into keycloak_model (a double of Keycloak's scope validation
and token building, written from Keycloak's source). Expectations are plain data (the
clients' rendered settings, the users `user()` builds), so a test against a real Keycloak
can assert the same.

How the clients read tokens, from their source:
- Argo CD (argoproj/argo-cd util/oidc/oidc.go, ClientApp.HandleCallback): the claims of the
  ID token; argocd-rbac-cm `scopes` names the claims group rules match.
- Grafana generic OAuth (grafana/grafana pkg/login/social/connectors/generic_oauth.go,
  UserInfo/collectUserInfoData): the ID token, then the userinfo answer (api_url), then (newer
  releases) the access token; the role comes from the first source where role_attribute_path
  gives a valid role (social_base.go extractRoleAndAdminOptional). A path ending in
  `|| 'Viewer'` always gives one, so the roles must already be in the ID token.
"""

import base64
import configparser
import json
import re
from pathlib import Path

import jmespath
import pytest
import yaml
from collection_defaults import collection_defaults
from keycloak_model import Realm, claim_roots, refused_for_ssl

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "keycloak"
# Token sources in the order each client reads them (see the module docstring).
GRAFANA_SOURCES = ("id_token", "userinfo", "access_token")
GRAFANA_ROLES = ("Viewer", "Editor", "Admin", "GrafanaAdmin")


def user(**extra):
    return {
        "id": "0c5e7d4e-0000-4000-8000-000000000001",
        "username": "alice",
        "first_name": "Alice",
        "last_name": "Doe",
        "email": "alice@example.com",
        "groups": [],
        "realm_roles": [],
        **extra,
    }


@pytest.fixture(scope="module")
def realm():
    """The realm as the keycloak role configures it, from the role's defaults.

    The scope, group, role and mapper data hold no Jinja; a variable the role does not
    define counts as empty (what the role then creates).
    """
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    realm_name = collection_defaults()["gauntlet_keycloak_realm"]
    return Realm(
        realm_name,
        defaults.get("keycloak_client_scopes", []),
        defaults["keycloak_web_clients"],
        groups=defaults.get("keycloak_groups", []),
        realm_roles=[r["name"] for r in defaults.get("keycloak_realm_roles", [])] + ["task-admin"],
    )


def _component(render, folder):
    return {(o["kind"], o["metadata"]["name"]): o for p, o in render.objects.items() if p.parts[0] == folder}


@pytest.fixture(scope="module")
def argocd(platform_render):
    objects = _component(platform_render, "argocd")
    oidc = yaml.safe_load(objects[("ConfigMap", "argocd-cm")]["data"]["oidc.config"])
    rbac = objects[("ConfigMap", "argocd-rbac-cm")]["data"]
    return {
        "client_id": oidc["clientID"],
        "scopes": oidc["requestedScopes"],
        "rbac": rbac,
        "pkce": oidc.get("enablePKCEAuthentication"),
    }


@pytest.fixture(scope="module")
def grafana(platform_render):
    secret = _component(platform_render, "monitoring")[("Secret", "grafana-config")]
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    parser.read_string(base64.b64decode(secret["data"]["grafana.ini"]).decode())
    oauth = dict(parser["auth.generic_oauth"])
    # Grafana splits `scopes` on spaces and commas (util.SplitString).
    oauth["scopes"] = [s for s in re.split(r"[\s,]+", oauth["scopes"]) if s]
    return oauth


def test_every_scope_a_client_requests_is_assigned_to_it(realm, argocd, grafana):
    """Keycloak answers invalid_scope for a requested scope the client is not given."""
    for client_id, requested in ((argocd["client_id"], argocd["scopes"]), (grafana["client_id"], grafana["scopes"])):
        assert client_id in realm.clients, f"the keycloak role creates no client {client_id}"
        assert realm.invalid_scopes(client_id, requested) == [], (
            f"{client_id} requests {requested}; Keycloak would answer invalid_scope for "
            f"{realm.invalid_scopes(client_id, requested)}"
        )


def test_argocd_group_claim_names_the_groups_its_rbac_maps(realm, argocd):
    claims = json.loads(argocd["rbac"]["scopes"])
    mapped = [line.split(",")[1].strip() for line in argocd["rbac"]["policy.csv"].splitlines() if line.startswith("g,")]
    assert mapped, "argocd-rbac-cm maps no group"
    for group in mapped:
        assert group in realm.groups, f"Argo CD maps group {group!r}, which the keycloak role does not create"
        tokens = realm.tokens(argocd["client_id"], argocd["scopes"], user(groups=[group]))
        id_token = tokens["id_token"]
        assert any(group in (id_token.get(claim) or []) for claim in claims), (
            f"a member of {group} has no {claims} claim naming it in Argo CD's ID token: {id_token}"
        )
        outsider = realm.tokens(argocd["client_id"], argocd["scopes"], user())["id_token"]
        assert not any(group in (outsider.get(claim) or []) for claim in claims)


def grafana_role(tokens, oauth):
    """The org role Grafana gives, as UserInfo/extractRoleAndAdminOptional compute it."""
    for source in GRAFANA_SOURCES:
        try:
            role = jmespath.search(oauth["role_attribute_path"], tokens[source])
        except jmespath.exceptions.JMESPathError:
            role = None
        if isinstance(role, str) and role.title() in GRAFANA_ROLES:
            return role.title(), source
    return None, None


def test_grafana_reads_its_role_from_the_id_token(realm, grafana):
    path = grafana["role_attribute_path"]
    client = grafana["client_id"]
    plain = realm.tokens(client, grafana["scopes"], user())
    missing = sorted(root for root in claim_roots(path) if root not in plain["id_token"])
    assert not missing, f"role_attribute_path reads {missing}, which are not in Grafana's ID token"
    reached = {}
    for role in sorted(realm.realm_roles):
        granted, source = grafana_role(realm.tokens(client, grafana["scopes"], user(realm_roles=[role])), grafana)
        reached[granted] = role
        if role.startswith("grafana-"):
            assert source == "id_token", f"realm role {role}: Grafana's role comes from {source}"
        else:  # task-admin and the like: end users' roles give nothing in Grafana
            assert granted is None, f"realm role {role} gives Grafana {granted}"
    assert {"Admin", "Editor", "Viewer"} <= set(reached), f"no realm role the keycloak role creates gives {reached}"


def argocd_roles(rbac, id_token):
    """Argo CD roles of a user: the `g,` rules matching its group claims, else policy.default
    (argo-cd util/rbac/rbac.go: the default role applies to every authenticated subject)."""
    claims = json.loads(rbac["scopes"])
    groups = {g for claim in claims for g in (id_token.get(claim) or [])}
    roles = set()
    for line in rbac["policy.csv"].splitlines():
        parts = [p.strip() for p in line.split(",")]
        if parts[0] == "g" and parts[1] in groups:
            roles.add(parts[2])
    default = rbac.get("policy.default", "")
    return roles | ({default} if default else set())


def test_a_realm_user_without_operator_membership_gets_nothing(realm, argocd, grafana):
    """End users (the Task API's) share the realm: they must get no operator access (review M5).

    Argo CD: no role (policy.default empty, no group rule). Grafana: no role from
    role_attribute_path, and role_attribute_strict refuses the login instead of falling back
    to auto_assign_org_role (grafana pkg/login/social/connectors/generic_oauth.go).
    """
    end_user = user(realm_roles=["task-admin"])
    id_token = realm.tokens(argocd["client_id"], argocd["scopes"], end_user)["id_token"]
    assert argocd_roles(argocd["rbac"], id_token) == set(), f"argocd-rbac-cm gives a plain realm user {argocd['rbac']}"
    tokens = realm.tokens(grafana["client_id"], grafana["scopes"], end_user)
    assert grafana_role(tokens, grafana) == (None, None), "Grafana gives a plain realm user a role"
    assert grafana["role_attribute_strict"] == "true", "Grafana must refuse users without a role"


def test_operators_get_access_through_membership(realm, argocd, grafana):
    def argocd_for(group):
        token = realm.tokens(argocd["client_id"], argocd["scopes"], user(groups=[group]))["id_token"]
        return argocd_roles(argocd["rbac"], token)

    assert argocd_for("argocd-admins") == {"role:admin"}
    assert argocd_for("argocd-viewers") == {"role:readonly"}
    viewer = realm.tokens(grafana["client_id"], grafana["scopes"], user(realm_roles=["grafana-viewer"]))
    assert grafana_role(viewer, grafana) == ("Viewer", "id_token")


def test_test_accounts_and_the_password_grant_are_opt_in():
    """The tester (task-admin) and the password-grant client task-api-cli exist only on request."""
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert defaults["keycloak_test_access"] is False
    outer = yaml.safe_load((ROLE / "tasks/configure_api.yml").read_text())[0]["block"]
    (tasks,) = [t["block"] for t in outer if t["name"] == "configure_api | Manage what lives in the realm"]
    password_grant = [
        t for t in tasks if t.get("community.general.keycloak_client", {}).get("direct_access_grants_enabled")
    ]
    assert [t["community.general.keycloak_client"]["state"] for t in password_grant] == [
        "{{ 'present' if keycloak_test_access else 'absent' }}"
    ]


def test_the_platform_realm_requires_https_from_every_address(realm, grafana):
    """ssl_required `external` exempts every private address, i.e. every client of the lab
    (review M5): the role sets `all`, and every caller the platform configures uses HTTPS.

    Callers: the Task API's key fetch (gitops/task-api/configmap.yaml, from a pod address),
    Grafana's back-channel token and userinfo calls and the browser's redirect (grafana.ini).
    """
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert defaults["keycloak_ssl_required"] == "all"
    tasks = yaml.safe_load((ROLE / "tasks/configure_api.yml").read_text())[0]["block"]
    (create,) = [t for t in tasks if t["name"] == "configure_api | Create the realm"]
    assert create["community.general.keycloak_realm"]["ssl_required"] == "{{ keycloak_ssl_required }}"
    settings = yaml.safe_load((REPO / "gitops/task-api/configmap.yaml").read_text())["data"]
    pod_address, lan_address = "10.42.0.17", "192.168.56.1"
    callers = {"Task API keys": (settings["TASK_API_JWKS_URL"], pod_address)}
    for key in ("auth_url", "token_url", "api_url"):
        callers[f"Grafana {key}"] = (grafana[key], pod_address if key != "auth_url" else lan_address)
    refused = {
        name: url
        for name, (url, address) in callers.items()
        if refused_for_ssl(defaults["keycloak_ssl_required"], url, address)
    }
    assert not refused, f"Keycloak answers 'HTTPS required' to {refused}"
    # The model itself: `external` lets plain HTTP from a pod through, `all` does not.
    assert not refused_for_ssl("external", "http://keycloak-service.keycloak.svc:8080/realms/x", pod_address)
    assert refused_for_ssl("all", "http://keycloak-service.keycloak.svc:8080/realms/x", pod_address)


def test_the_configuration_calls_go_to_the_admin_host():
    """The admin API and the master realm are routed on the admin host only (its own Ingress):
    the configure step waits for and logs in through keycloak_admin_url, and the master
    realm's frontend URL is that host, so the console's login stays there (review M5)."""
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert defaults["keycloak_admin_url"] == "https://{{ local_domains_services.keycloak_admin }}"
    configure = yaml.safe_load((ROLE / "tasks/configure.yml").read_text())[0]["block"]
    calls = [t["ansible.builtin.uri"]["url"] for t in configure if "ansible.builtin.uri" in t]
    # The wait and the administrator's login (tests/identity/ runs them against a real Keycloak).
    assert len(calls) == 2
    assert all(url.startswith("{{ keycloak_admin_url }}/realms/master/") for url in calls), calls
    api = yaml.safe_load((ROLE / "tasks/configure_api.yml").read_text())[0]
    reads = [t["ansible.builtin.uri"]["url"] for t in api["block"] if "ansible.builtin.uri" in t]
    assert reads == ["{{ keycloak_admin_url }}/admin/realms/master"]
    assert api["module_defaults"]["community.general.keycloak_realm"]["auth_keycloak_url"] == "{{ keycloak_admin_url }}"
    tasks = api["block"]
    master = [
        t["community.general.keycloak_realm"]
        for t in tasks
        if t.get("community.general.keycloak_realm", {}).get("realm") == "master"
    ]
    assert len(master) == 1
    assert master[0]["attributes"] == {"frontendUrl": "{{ keycloak_admin_url }}"}


def test_grafana_login_email_and_name_claims_are_in_the_id_token(realm, grafana):
    tokens = realm.tokens(grafana["client_id"], grafana["scopes"], user())
    for key in ("login_attribute_path", "email_attribute_path", "name_attribute_path"):
        value = jmespath.search(grafana[key], tokens["id_token"])
        assert isinstance(value, str) and value, f"{key} {grafana[key]!r} finds nothing in the ID token"


def _client_tasks():
    outer = yaml.safe_load((ROLE / "tasks/configure_api.yml").read_text())[0]["block"]
    (tasks,) = [t["block"] for t in outer if t["name"] == "configure_api | Manage what lives in the realm"]
    return [t["community.general.keycloak_client"] for t in tasks if "community.general.keycloak_client" in t]


def test_every_client_with_a_browser_flow_requires_pkce_s256(argocd, grafana):
    """Review L7: Keycloak enforces PKCE for a client whose attribute
    `pkce.code.challenge.method` is set (OIDCConfigAttributes.PKCE_CODE_CHALLENGE_METHOD in
    keycloak-server-spi-private 26.7.4): an authorization request without code_challenge, or
    with another method, is refused. Set to S256 on every client of the role, public or
    confidential; both web clients send S256: Argo CD with `enablePKCEAuthentication`
    (argo-cd util/oidc/oidc.go HandleLogin, oauth2.S256ChallengeOption), Grafana with
    `use_pkce` (grafana pkg/services/authn/clients/oauth.go, codeChallengeMethod "S256")."""
    role_vars = yaml.safe_load((ROLE / "vars/main.yml").read_text())
    assert role_vars["__keycloak_pkce_method"] == "S256"
    clients = _client_tasks()
    assert clients and all(
        (c.get("attributes") or {}).get("pkce.code.challenge.method") == "{{ __keycloak_pkce_method }}" for c in clients
    ), [c["client_id"] for c in clients]
    assert argocd["pkce"] is True, "Argo CD would not send a code challenge"
    assert grafana["use_pkce"] == "true", "Grafana would not send a code challenge"


def test_the_realm_has_a_password_policy():
    """Review L7: no password policy. The realm gets one (Keycloak policy providers length,
    maxLength, notUsername, notEmail, passwordHistory: org/keycloak/policy/*PasswordPolicyProviderFactory
    of 26.7.4), after NIST SP 800-63B: a minimum length, a long maximum, no composition rules."""
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    policy = defaults["keycloak_password_policy"]
    terms = dict((term.split("(")[0], term.partition("(")[2].rstrip(")") or None) for term in policy.split(" and "))
    assert int(terms["length"]) >= 12 and int(terms["maxLength"]) >= 64
    assert {"notUsername", "notEmail", "passwordHistory"} <= set(terms)
    tasks = yaml.safe_load((ROLE / "tasks/configure_api.yml").read_text())[0]["block"]
    (create,) = [t for t in tasks if t["name"] == "configure_api | Create the realm"]
    assert create["community.general.keycloak_realm"]["password_policy"] == "{{ keycloak_password_policy }}"


def test_keycloak_argument_specs_equal_the_defaults():
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    specs = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert set(specs) == set(defaults)
    for name, spec in specs.items():
        assert spec.get("default") == defaults[name], name
