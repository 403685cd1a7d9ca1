"""The proxy environment variables urllib reads (``urllib.request.getproxies_environment``: any
``<scheme>_proxy`` and ``no_proxy``, lower case first, upper case too). Tests clear them all
before setting their own, so a proxy of the machine running the tests never decides a case."""

PROXY_VARS = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
)
