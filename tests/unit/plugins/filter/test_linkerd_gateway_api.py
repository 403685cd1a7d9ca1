"""The linkerd_gateway_api filter: the decision of module_utils/k8s/gateway_api, errors as filter errors."""

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.filter.linkerd_gateway_api import FilterModule

F = FilterModule().filters()["linkerd_gateway_api"]


def test_apply_mode_decides_from_the_crds_and_render_mode_from_the_choice():
    assert F([], "linkerd")["values"]["installGatewayAPI"] is True
    assert F([], "linkerd", render="existing")["values"]["installGatewayAPI"] is False


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match=r"linkerd_gateway_api: .*list"):
        F("httproutes", "linkerd")
    with pytest.raises(AnsibleFilterError, match="existing, install"):
        F([], "linkerd", render="yes")
