"""A test double of Keycloak's token building: which scopes a client may request, and which
claims end up in its ID token, access token and userinfo answer.

It is a model, not Keycloak: it knows the built-in client scopes of a new realm and the
mapper types the keycloak role configures, and fails on anything else. Every rule is read
from Keycloak's source (keycloak/keycloak, services/src/main/java/org/keycloak/protocol/oidc/):

- OIDCLoginProtocolFactory.createDefaultClientScopesImpl / initBuiltIns: the built-in scopes,
  default or optional, and their mappers. `roles` writes realm_access.roles into the access
  token only ("OpenID Connect scope for add user roles to the access token"); profile and
  email write their claims into all three; microprofile-jwt writes the realm roles as `groups`.
- DefaultRequestedScopeValidationProvider.isValid: `openid` is dropped, every other requested
  scope must be one of the client's default or optional scopes, or the request fails with
  invalid_scope.
- TokenManager: a client's default scopes always apply, its optional ones when requested.
- ClientModel import (RepresentationToModel): a client created with defaultClientScopes or
  optionalClientScopes gets exactly those, not the realm's defaults.
- OIDCAttributeMapperHelper: `claim.name` is split at dots into nested objects; the
  `id.token.claim`, `access.token.claim` and `userinfo.token.claim` switches pick the tokens.
- The realm's `sslRequired` (common/src/main/java/org/keycloak/common/enums/SslRequired.java,
  its test SslRequiredTest): `all` requires HTTPS from every address, `external` from all but
  loopback and private (site-local) addresses, `none` from none. The protocol endpoints
  check it per request (OIDCLoginProtocolService: the keys endpoint `certs()` calls
  checkSsl() too); a request counts as HTTPS when its scheme is https, which behind Traefik
  comes from X-Forwarded-Proto (proxy-headers xforwarded).

Inputs are plain data shaped like the keycloak role's variables (keycloak_client_scopes,
keycloak_web_clients), so a test against a real Keycloak can assert the same expectations.
"""

from __future__ import annotations

import copy

OPENID = "openid"
TOKENS = ("id_token", "access_token", "userinfo")
ALL = frozenset(TOKENS)
ID_ACCESS = frozenset(("id_token", "access_token"))
ACCESS = frozenset(("access_token",))
# Roles every user of a realm holds through the composite default-roles-<realm>.
DEFAULT_REALM_ROLES = ("offline_access", "uma_authorization")


def _name(user):
    return f"{user['first_name']} {user['last_name']}"


def _realm_roles(user, realm):
    return sorted({*user.get("realm_roles", ()), *DEFAULT_REALM_ROLES, f"default-roles-{realm}"})


# name -> (realm default (True) or optional (False), [(claim, tokens, value(user, realm))])
BUILTIN_SCOPES = {
    "profile": (
        True,
        [
            ("preferred_username", ALL, lambda u, r: u["username"]),
            ("name", ALL, lambda u, r: _name(u)),
            ("given_name", ALL, lambda u, r: u["first_name"]),
            ("family_name", ALL, lambda u, r: u["last_name"]),
        ],
    ),
    "email": (
        True,
        [("email", ALL, lambda u, r: u["email"]), ("email_verified", ALL, lambda u, r: True)],
    ),
    "roles": (True, [("realm_access.roles", ACCESS, _realm_roles)]),
    "web-origins": (True, [("allowed-origins", ACCESS, lambda u, r: [])]),
    "acr": (True, [("acr", ID_ACCESS, lambda u, r: "1")]),
    "basic": (True, [("sub", ALL, lambda u, r: u["id"]), ("auth_time", ID_ACCESS, lambda u, r: 0)]),
    "address": (False, [("address", ALL, lambda u, r: {})]),
    "phone": (False, [("phone_number", ALL, lambda u, r: "")]),
    "offline_access": (False, []),
    "microprofile-jwt": (False, [("upn", ALL, lambda u, r: u["username"]), ("groups", ID_ACCESS, _realm_roles)]),
}
REALM_DEFAULT_SCOPES = sorted(name for name, (default, _unused) in BUILTIN_SCOPES.items() if default)
REALM_OPTIONAL_SCOPES = sorted(name for name, (default, _unused) in BUILTIN_SCOPES.items() if not default)


class ModelError(AssertionError):
    """Configuration the model (and so this test) cannot judge, or Keycloak would refuse."""


def _flag(config, key, where):
    value = str(config.get(key, "")).lower()
    if value not in ("true", "false"):
        raise ModelError(f"{where}: set {key} to 'true' or 'false' explicitly (Keycloak's defaults differ by version)")
    return value == "true"


def _mapper_claims(mapper, realm, where):
    """[(claim, tokens, value(user))] of one configured protocol mapper."""
    kind = mapper.get("protocolMapper")
    config = mapper.get("config") or {}
    where = f"{where} mapper {mapper.get('name')!r}"
    if mapper.get("protocol", "openid-connect") != "openid-connect":
        raise ModelError(f"{where}: only openid-connect mappers are modelled")
    tokens = frozenset(
        token
        for token, key in (
            ("id_token", "id.token.claim"),
            ("access_token", "access.token.claim"),
            ("userinfo", "userinfo.token.claim"),
        )
        if _flag(config, key, where)
    )
    if kind == "oidc-group-membership-mapper":
        full = _flag(config, "full.path", where)
        return [(config["claim.name"], tokens, lambda u: [("/" + g if full else g) for g in u.get("groups", ())])]
    if kind == "oidc-usermodel-realm-role-mapper":
        prefix = config.get("usermodel.realmRoleMapping.rolePrefix", "")
        return [(config["claim.name"], tokens, lambda u: [prefix + role for role in _realm_roles(u, realm)])]
    if kind == "oidc-audience-mapper":
        return [("aud", tokens, lambda u: [config["included.client.audience"]])]
    raise ModelError(f"{where}: mapper type {kind!r} is not modelled; add it from Keycloak's source")


def _put(claims, path, value):
    *parents, leaf = path.split(".")
    node = claims
    for part in parents:
        node = node.setdefault(part, {})
    if leaf == "aud" and leaf in node:
        node[leaf] = sorted({*node[leaf], *value})
    else:
        node[leaf] = copy.deepcopy(value)


class Realm:
    """The realm as the keycloak role leaves it: built-in scopes, its own scopes, its clients."""

    def __init__(self, name, client_scopes, clients, groups=(), realm_roles=()):
        self.name = name
        self.groups = set(groups)
        self.realm_roles = set(realm_roles)
        self.scopes = {}
        for scope, (_unused, claims) in BUILTIN_SCOPES.items():
            self.scopes[scope] = [(c, t, lambda u, f=v: f(u, name)) for c, t, v in claims]
        for scope in client_scopes:
            if scope["name"] in self.scopes:
                raise ModelError(f"client scope {scope['name']!r} already exists as a built-in scope")
            self.scopes[scope["name"]] = [
                claim
                for mapper in scope.get("protocol_mappers") or []
                for claim in _mapper_claims(mapper, name, f"client scope {scope['name']!r}")
            ]
        self.clients = {client["client_id"]: client for client in clients}

    def assigned(self, client_id):
        """(default scopes, optional scopes) of a client."""
        client = self.clients[client_id]
        default = client.get("default_client_scopes")
        optional = client.get("optional_client_scopes")
        if default is None and optional is None:
            return REALM_DEFAULT_SCOPES, REALM_OPTIONAL_SCOPES
        default, optional = list(default or []), list(optional or [])
        unknown = sorted(set(default + optional) - set(self.scopes))
        if unknown:
            raise ModelError(f"client {client_id}: client scopes {unknown} do not exist in the realm")
        return default, optional

    def invalid_scopes(self, client_id, requested):
        """Requested scopes Keycloak answers with invalid_scope."""
        default, optional = self.assigned(client_id)
        return sorted(set(requested) - {OPENID} - set(default) - set(optional))

    def tokens(self, client_id, requested, user):
        """{token type: claims} for `user` logging in to `client_id` with `requested` scopes."""
        invalid = self.invalid_scopes(client_id, requested)
        if invalid:
            raise ModelError(f"client {client_id}: invalid_scope {invalid}")
        default, optional = self.assigned(client_id)
        applied = [*default, *(s for s in optional if s in requested)]
        claims = [claim for scope in applied for claim in self.scopes[scope]]
        client = self.clients[client_id]
        claims += [
            claim
            for mapper in client.get("protocol_mappers") or []
            for claim in _mapper_claims(mapper, self.name, f"client {client_id!r}")
        ]
        out = {token: {"iss": f"https://keycloak/realms/{self.name}", "azp": client_id} for token in TOKENS}
        for path, token_types, value in claims:
            for token in token_types:
                _put(out[token], path, value(user))
        return out


def https_required(ssl_required, remote_address):
    """Whether a realm with `ssl_required` refuses a plain-HTTP request from `remote_address`."""
    import ipaddress

    if ssl_required == "all":
        return True
    if ssl_required == "none":
        return False
    if ssl_required != "external":
        raise ModelError(f"ssl_required {ssl_required!r} is not one of all, external, none")
    try:
        address = ipaddress.ip_address(remote_address)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_private) or address.is_unspecified


def refused_for_ssl(ssl_required, url, remote_address):
    """Whether Keycloak answers a request to `url` from `remote_address` with "HTTPS required"."""
    from urllib.parse import urlsplit

    return urlsplit(url).scheme != "https" and https_required(ssl_required, remote_address)


def claim_roots(expression):
    """Top-level claim names a JMESPath expression reads (fields not applied to a sub-result)."""
    import jmespath

    roots = set()

    def walk(node, relative):
        if not isinstance(node, dict):
            return
        kind, children = node.get("type"), node.get("children", [])
        if kind == "field" and not relative:
            roots.add(node["value"])
        if kind in ("subexpression", "projection", "value_projection", "filter_projection", "index_expression"):
            walk(children[0], relative)
            for child in children[1:]:
                walk(child, True)
        elif kind == "flatten":
            walk(children[0], relative)
        else:
            for child in children:
                walk(child, relative)

    walk(jmespath.compile(expression).parsed, False)
    return roots
