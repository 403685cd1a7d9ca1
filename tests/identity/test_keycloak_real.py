"""The keycloak role against the real Keycloak (issue 14 items 1, 3 and 5)."""

import pytest

pytestmark = pytest.mark.identity


def test_keycloak_starts_in_production_mode(identity):
    response = identity.http("GET", "https://keycloak.local/realms/master/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json()["issuer"] == "https://keycloak.local/realms/master"
    assert identity.keycloak.startup_seconds < 300
