"""The bearer-token flow against docker-registry configured with ``auth.token``."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryAuthError

pytestmark = pytest.mark.integration


def test_bearer_token_push_with_mount(token_registry, test_images, tmp_path):
    layout = OciLayout(str(test_images.write_layout(tmp_path / "bundle")))
    client = RegistryClient(
        token_registry.host, plain_http=True, username="gauntlet", password="t0ken-pass", retries=1, backoff=0.05
    )
    result = push_bundle(layout, client)
    assert result["changed"] is True
    assert result["blobs_mounted"] >= 2
    # Tokens were requested per scope, including a two-repository scope for a mount.
    assert any(len(scopes) == 2 and scopes[1].endswith(":pull") for scopes in token_registry.tokens.issued)
    for name, (digest, _mt) in test_images.images.items():
        raw = token_registry.inspect_raw(name)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest
    again = push_bundle(
        layout, RegistryClient(token_registry.host, plain_http=True, username="gauntlet", password="t0ken-pass")
    )
    assert again["changed"] is False


def test_bearer_token_wrong_password(token_registry):
    client = RegistryClient(token_registry.host, plain_http=True, username="gauntlet", password="wrong", retries=0)
    with pytest.raises(RegistryAuthError, match=r"refused user 'gauntlet'.*check the registry username and password"):
        client.manifest_digest("quay.io/gauntlet/base", "1")
