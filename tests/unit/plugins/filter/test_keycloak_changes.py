"""keycloak_changes: what the keycloak role's no_log tasks changed, named without secrets."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.keycloak_changes import FilterModule

keycloak_changes = FilterModule().filters()["keycloak_changes"]


def test_an_updated_realm_field_is_named_with_both_values():
    result = {"changed": True, "existing": {"realm": "gauntlet", "accessTokenLifespan": 3600, "enabled": True},
              "end_state": {"realm": "gauntlet", "accessTokenLifespan": 30, "enabled": True}}  # fmt: skip
    assert keycloak_changes([{"kind": "realm", "result": result}]) == ["realm gauntlet: accessTokenLifespan 3600 -> 30"]


def test_loop_results_give_one_line_per_changed_item_and_unchanged_ones_none():
    registered = {
        "changed": True,
        "results": [
            {"changed": False, "existing": {"name": "argocd-admins"}, "end_state": {"name": "argocd-admins"}},
            {"changed": True, "existing": {}, "end_state": {"name": "argocd-viewers", "id": "1"}},
            {"skipped": True, "changed": False},
        ],
    }
    assert keycloak_changes([{"kind": "group", "result": registered}]) == ["group argocd-viewers: created"]


def test_mappers_are_compared_by_name_and_secrets_are_never_shown():
    before = {
        "clientId": "argocd",
        "secret": "s3cr3t-old",
        "redirectUris": ["https://evil.example/callback"],
        "attributes": {"client.secret.creation.time": "1", "saml.signing.private.key": "KEY-A"},
        "protocolMappers": [{"name": "groups", "config": {"full.path": "true"}}],
    }
    after = {
        "clientId": "argocd",
        "secret": "s3cr3t-new",
        "redirectUris": ["https://argocd.local/auth/callback"],
        "attributes": {"client.secret.creation.time": "2", "saml.signing.private.key": "KEY-B"},
        "protocolMappers": [{"name": "groups", "config": {"full.path": "false"}}, {"name": "audience", "config": {}}],
    }
    lines = keycloak_changes([{"kind": "client", "result": {"changed": True, "existing": before, "end_state": after}}])
    text = "\n".join(lines)
    for secret in ("s3cr3t", "KEY-A", "KEY-B"):
        assert secret not in text
    assert "client argocd: secret (value not shown)" in lines
    assert "client argocd: attributes.saml.signing.private.key (value not shown)" in lines
    assert "client argocd: attributes.client.secret.creation.time (value not shown)" in lines
    assert 'client argocd: protocolMappers[groups].config.full.path "true" -> "false"' in lines
    assert "client argocd: protocolMappers[audience] added" in lines
    assert (
        'client argocd: redirectUris ["https://evil.example/callback"] -> ["https://argocd.local/auth/callback"]'
        in lines
    )


def test_added_secret_fields_and_user_credentials_are_not_shown():
    result = {"changed": True, "existing": {"username": "tester", "email": "a@x"},
              "end_state": {"username": "tester", "email": "b@x", "credentials": [{"value": "pw-1"}]}}  # fmt: skip
    lines = keycloak_changes([{"kind": "user", "result": result}])
    assert lines == ["user tester: credentials added", 'user tester: email "a@x" -> "b@x"']


def test_scope_assignment_of_a_client_takes_its_name_from_the_loop_item():
    result = {
        "changed": True,
        "keycloak_item": {"keycloak_item": {"client_id": "grafana"}},
        "existing": {"default_clientscopes": ["basic", "groups"]},
        "end_state": {"default_clientscopes": ["basic"]},
    }
    assert keycloak_changes([{"kind": "client scopes of", "result": {"results": [result]}}]) == [
        'client scopes of grafana: default_clientscopes ["basic", "groups"] -> ["basic"]'
    ]


def test_check_mode_uses_the_modules_diff_or_says_how_to_see_the_fields():
    with_diff = {"changed": True, "existing": {"realm": "g", "sslRequired": "none"},
                 "diff": {"before": {"realm": "g", "sslRequired": "none"}, "after": {"realm": "g", "sslRequired": "all"}}}  # fmt: skip
    assert keycloak_changes([{"kind": "realm", "result": with_diff}]) == ['realm g: sslRequired "none" -> "all"']
    without = {"changed": True, "existing": {"realm": "g"}}
    assert keycloak_changes([{"kind": "realm", "result": without}]) == [
        "realm g: changed (run with --diff in check mode for the fields)"
    ]


def test_a_removed_object():
    result = {"changed": True, "existing": {"name": "argocd"}, "end_state": {}}
    assert keycloak_changes([{"kind": "client", "result": result}]) == ["client argocd: removed"]


def test_role_mappings_name_each_role_and_take_the_given_name():
    result = {"changed": True, "existing": [], "end_state": [{"name": "task-admin", "id": "1"}]}
    assert keycloak_changes([{"kind": "roles of user", "name": "tester", "result": result}]) == [
        "roles of user tester: [task-admin] added"
    ]


def test_many_fields_are_cut_and_counted():
    before = {f"f{i:02}": 0 for i in range(20)}
    after = {f"f{i:02}": 1 for i in range(20)}
    lines = keycloak_changes(
        [{"kind": "realm", "name": "g", "result": {"changed": True, "existing": before, "end_state": after}}]
    )
    assert len(lines) == 13 and lines[-1] == "realm g: and 8 more field(s)"


@pytest.mark.parametrize("bad", [None, "x", [1], [{"result": {}}]])
def test_bad_input_is_a_clear_filter_error(bad):
    with pytest.raises(AnsibleFilterError, match="keycloak_changes"):
        keycloak_changes(bad)


def test_a_module_without_existing_takes_the_before_state_from_its_diff():
    """keycloak_clientscope returns no ``existing``: an update is not a creation."""
    before = {"name": "groups", "protocolMappers": [{"name": "groups", "config": {"full.path": "true"}}]}
    after = {"name": "groups", "protocolMappers": [{"name": "groups", "id": "4f", "config": {"full.path": "false"}}]}
    # community.general keycloak_clientscope.py starts from existing={} and never sets it.
    updated = {"changed": True, "existing": {}, "diff": {"before": before, "after": after}, "end_state": after}
    created = {"changed": True, "existing": {}, "diff": {"before": "", "after": after}, "end_state": after}
    assert keycloak_changes([{"kind": "client scope", "result": {"results": [updated, created]}}]) == [
        'client scope groups: protocolMappers[groups].config.full.path "true" -> "false"',
        "client scope groups: created",
    ]
