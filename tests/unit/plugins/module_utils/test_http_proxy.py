"""The image engine's proxy choice is urllib's, which ansible.builtin.get_url uses for the bundle's files.

Every case is decided twice, by ``http_proxy.proxy_for`` and by ``urllib.request.ProxyHandler``
itself (the handler rewrites a Request to go through the proxy and adds ``Proxy-authorization``),
and the two must agree: same proxy host and port, same credentials header, same bypass.
The proxies themselves are tested for real in tests/services/test_bundle_proxy.py.
"""

from __future__ import annotations

import urllib.request

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.registry import http_proxy
from proxy_env import PROXY_VARS


@pytest.fixture
def env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)

    def set_(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


def urllib_decision(url: str) -> tuple[str, str | None] | None:
    """(proxy host:port, Proxy-authorization) as urllib's ProxyHandler decides, or None (direct)."""
    request = urllib.request.Request(url)  # noqa: S310 - built, never opened
    original_host = request.host
    handler = urllib.request.ProxyHandler()
    scheme = request.type
    if scheme not in handler.proxies:
        return None
    handler.proxy_open(request, handler.proxies[scheme], scheme)
    if request.host == original_host:
        return None
    return request.host, request.headers.get("Proxy-authorization")


def our_decision(url: str) -> tuple[str, str | None] | None:
    split = urllib.parse.urlsplit(url)
    proxy = http_proxy.proxy_for(split.scheme, split.netloc)
    if proxy is None:
        return None
    return f"{proxy.host}:{proxy.port}", proxy.authorization()


CASES = [
    # (environment, url, expected proxy host:port or None)
    ({"HTTPS_PROXY": "http://127.0.0.1:3128"}, "https://reg.example:5000/v2/", "127.0.0.1:3128"),
    ({"https_proxy": "http://127.0.0.1:3128"}, "https://reg.example/v2/", "127.0.0.1:3128"),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128"}, "http://reg.example/v2/", None),
    ({"HTTP_PROXY": "http://127.0.0.1:8080"}, "http://reg.example/v2/", "127.0.0.1:8080"),
    ({"HTTP_PROXY": "http://127.0.0.1:8080"}, "https://reg.example/v2/", None),
    # lower case wins over upper case; an empty lower-case value switches the proxy off
    (
        {"HTTPS_PROXY": "http://10.9.9.9:1", "https_proxy": "http://127.0.0.1:3128"},
        "https://r.example/",
        "127.0.0.1:3128",
    ),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "https_proxy": ""}, "https://r.example/", None),
    # a bare host:port
    ({"HTTPS_PROXY": "127.0.0.1:3128"}, "https://r.example/", "127.0.0.1:3128"),
    # ALL_PROXY is not urllib's
    ({"ALL_PROXY": "http://127.0.0.1:3128"}, "https://r.example/", None),
    # NO_PROXY: exact host, suffix with and without a dot, host:port, *, spaces, case
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "r.example"}, "https://r.example:5000/", None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "example"}, "https://r.example/", None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": ".example"}, "https://r.example/", None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "ample"}, "https://r.example/", "127.0.0.1:3128"),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "r.example:5000"}, "https://r.example:5000/", None),
    (
        {"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "r.example:5000"},
        "https://r.example:5001/",
        "127.0.0.1:3128",
    ),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "other, R.Example "}, "https://r.example/", None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "*"}, "https://r.example/", None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "no_proxy": "127.0.0.2"}, "https://127.0.0.2:5000/", None),
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "no_proxy": "127.0.0.2"}, "https://127.0.0.3:5000/", "127.0.0.1:3128"),
    # CIDR is not understood, by urllib or here: the proxy is used
    ({"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "127.0.0.0/8"}, "https://127.0.0.2/", "127.0.0.1:3128"),
    # credentials, percent-decoded; a user without a password sends none (urllib's rule)
    ({"HTTPS_PROXY": "http://us%40er:p%3Ass@127.0.0.1:3128"}, "https://r.example/", "127.0.0.1:3128"),
    ({"HTTPS_PROXY": "http://user@127.0.0.1:3128"}, "https://r.example/", "127.0.0.1:3128"),
]


@pytest.mark.parametrize(("environment", "url", "expected"), CASES)
def test_the_proxy_choice_is_urllibs(env, environment, url, expected):
    env(**environment)
    ours = our_decision(url)
    assert (ours[0] if ours else None) == expected
    assert ours == urllib_decision(url), "http_proxy and urllib's ProxyHandler disagree"


def test_the_credentials_become_basic_proxy_authorization(env):
    env(HTTPS_PROXY="http://us%40er:p%3Ass@127.0.0.1:3128")
    proxy = http_proxy.proxy_for("https", "r.example")
    # base64("us@er:p:ss")
    assert proxy.authorization() == "Basic dXNAZXI6cDpzcw=="


def test_the_variable_that_set_the_proxy_is_named(env):
    env(HTTPS_PROXY="http://127.0.0.1:3128")
    assert http_proxy.proxy_for("https", "r.example").variable == "HTTPS_PROXY"
    env(https_proxy="http://127.0.0.1:3129")
    assert http_proxy.proxy_for("https", "r.example").variable == "https_proxy"
    env(HTTP_PROXY="http://127.0.0.1:8080")
    assert http_proxy.proxy_for("http", "r.example").variable == "HTTP_PROXY"


def test_texts_never_show_the_credentials(env):
    env(HTTPS_PROXY="http://gauntlet:pr0xy-s3cret@127.0.0.1:3128")
    proxy = http_proxy.proxy_for("https", "r.example")
    for text in (
        proxy.url,
        proxy.where(),
        repr(proxy),
        http_proxy.auth_failure(proxy, 407, "Proxy Authentication Required", "CONNECT r.example:443"),
    ):
        assert "pr0xy-s3cret" not in text
        assert "gauntlet" not in text
    assert proxy.where() == "proxy http://127.0.0.1:3128 (from HTTPS_PROXY)"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("https://127.0.0.1:3128", "names a https:// proxy"),
        ("socks5://127.0.0.1:1080", "names a socks5:// proxy"),
        ("http://127.0.0.1", "names no port for the proxy http://127.0.0.1; set it to http://127.0.0.1:PORT"),
        ("http://:3128", "has no proxy host"),
        ("http://127.0.0.1:99999", "is not a proxy URL"),
        ("http://user:s3cret@127.0.0.1:x", "is not a proxy URL"),
    ],
)
def test_a_proxy_variable_that_is_no_proxy_url_is_a_clear_error(env, value, says):
    env(HTTPS_PROXY=value)
    with pytest.raises(http_proxy.ProxyConfigError) as error:
        http_proxy.proxy_for("https", "r.example")
    assert says in str(error.value)
    assert str(error.value).startswith("HTTPS_PROXY ")
    assert "s3cret" not in str(error.value)
