"""filter_errors: a filter's listed errors fail as AnsibleFilterError named after the filter."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.gauntlet.platform.plugins.plugin_utils.filter_errors import filter_errors


@filter_errors(KeyError, ValueError)
def some_filter(value):
    """Docs stay with the filter."""
    if value == "type":
        raise TypeError("not listed")
    return int(value)


def test_a_listed_error_is_named_after_the_filter_and_chained():
    with pytest.raises(AnsibleFilterError, match=r"^some_filter: invalid literal") as caught:
        some_filter("x")
    assert isinstance(caught.value.__cause__, ValueError)


def test_an_unlisted_error_passes_and_a_result_returns():
    with pytest.raises(TypeError):
        some_filter("type")
    assert some_filter("3") == 3
    assert some_filter.__name__ == "some_filter" and some_filter.__doc__ == "Docs stay with the filter."
