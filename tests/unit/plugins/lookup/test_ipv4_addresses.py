"""ipv4_addresses: what the controller's resolver answers, [] for a name it does not know."""

import socket

import pytest
from ansible.errors import AnsibleLookupError
from ansible_collections.gauntlet.platform.plugins.lookup.ipv4_addresses import LookupModule


def test_localhost_resolves_through_the_real_resolver():
    # localhost comes from /etc/hosts (nsswitch `files`): no DNS query.
    assert "127.0.0.1" in LookupModule().run(["localhost"])[0]


def test_unknown_names_give_empty_lists_and_duplicates_are_dropped(monkeypatch):
    def resolver_double(host, port, family=0, kind=0, *args):  # test double of the system resolver
        assert family == socket.AF_INET
        if host == "gitea.local":
            return [(socket.AF_INET, kind, 6, "", ("10.0.0.11", 0)), (socket.AF_INET, kind, 6, "", ("10.0.0.11", 0))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", resolver_double)
    assert LookupModule().run(["gitea.local", "keycloak.local"]) == [["10.0.0.11"], []]


@pytest.mark.parametrize(("terms", "options"), [([""], {}), ([None], {}), (["gitea.local"], {"family": 6})])
def test_bad_terms_and_options_are_refused(terms, options):
    with pytest.raises(AnsibleLookupError, match="ipv4_addresses: "):
        LookupModule().run(terms, **options)
