"""web_client: TLS trust through a CA file, per-origin cookies, no redirect following, form reading, errors.

A loopback HTTPS test double serves a certificate signed by a CA generated for the run.
"""

import http.server
import socket
import ssl
import threading
from typing import ClassVar

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.services.issued_secret import (
    SecretFileError,
    read_secret,
    write_secret,
)
from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import (
    ApiError,
    HttpClient,
    basic_auth,
    error_detail,
    html_forms,
)
from tls_material import make_ca_and_cert


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list] = []
    hosts: ClassVar[list] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.seen.append((self.path, self.headers.get("Cookie"), self.headers.get("Authorization")))
        Handler.hosts.append(self.headers.get("Host"))
        if self.path == "/set":
            body = b"{}"
            self.send_response(302)
            self.send_header("Location", "/next")
            self.send_header("Set-Cookie", "session=abc; Path=/; HttpOnly")
            self.send_header("Set-Cookie", "flash=1; Path=/")
        elif self.path == "/clear":
            body = b"{}"
            self.send_response(200)
            self.send_header("Set-Cookie", "flash=; Max-Age=0; Path=/")
        else:
            body = b'{"message": "nothing here"}'
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def https_double(tmp_path):
    """An HTTPS test double on 127.0.0.1 with a certificate for `localhost` from a test CA."""
    make_ca_and_cert(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    Handler.seen = []
    yield f"https://localhost:{server.server_address[1]}", str(tmp_path / "ca.crt")
    server.shutdown()
    server.server_close()


def test_ca_file_makes_the_certificate_trusted_and_redirects_are_not_followed(https_double):
    url, ca = https_double
    client = HttpClient(ca_path=ca, timeout=5)
    response = client.request("GET", f"{url}/set")
    assert response.status == 302 and response.location == f"{url}/next"
    assert client.cookies[url] == {"session": "abc", "flash": "1"}
    assert [path for path, _unused, _unused in Handler.seen] == ["/set"]


def test_untrusted_certificate_names_the_fix(https_double):
    url, _unused = https_double
    with pytest.raises(ApiError, match=r"not trusted .* pass the platform CA as ca_path"):
        HttpClient(timeout=5).request("GET", f"{url}/set")


def test_cookies_go_back_to_their_origin_only_and_can_be_cleared(https_double):
    url, ca = https_double
    client = HttpClient(ca_path=ca, timeout=5)
    client.request("GET", f"{url}/set")
    client.request("GET", f"{url}/clear")
    response = client.request("GET", f"{url}/other", headers=basic_auth("u", "p"))
    assert response.status == 404 and error_detail(response) == "nothing here"
    assert Handler.seen[-1][1] == "session=abc"
    assert Handler.seen[-1][2] == "Basic dTpw"
    assert client.cookies[url] == {"session": "abc"}
    assert url.replace("localhost", "127.0.0.1") not in client.cookies


def test_credentials_in_urls_and_other_schemes_are_refused():
    client = HttpClient()
    with pytest.raises(ApiError, match="must not be part of a URL"):
        client.request("GET", "https://user:secret@gitea.test/api")
    with pytest.raises(ApiError, match="not an http"):
        client.request("GET", "ftp://gitea.test/")


def test_unreachable_service_says_what_to_check():
    with pytest.raises(ApiError, match=r"cannot connect .*\(local_domains_manage_controller\)"):
        HttpClient(timeout=2).request("GET", "http://127.0.0.1:9/")


def test_html_forms_reads_hidden_text_checked_and_buttons():
    page = """<form action="/user/login" method="POST"><input type="hidden" name="_csrf" value="t0k">
    <input name="user_name" value="x"><input type="password" name="password">
    <input type="checkbox" name="remember"><input type="checkbox" name="keep" value="yes" checked>
    <button name="granted" value="true">OK</button></form><form action="/search"><input name="q"></form>"""
    first, second = html_forms(page)
    assert first["action"] == "/user/login" and first["method"] == "post"
    assert first["fields"] == {"_csrf": "t0k", "user_name": "x", "password": "", "keep": "yes"}
    assert first["buttons"] == [("granted", "true")]
    assert second == {"action": "/search", "method": "get", "fields": {"q": ""}, "buttons": []}


def test_issued_secret_files_are_private_and_checked(tmp_path):
    path = tmp_path / "creds" / "drone" / "gitea-client-secret"
    assert read_secret(str(path)) is None
    write_secret(str(path), "s3cret")
    assert path.read_text() == "s3cret\n" and read_secret(str(path)) == "s3cret"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    path.chmod(0o640)
    with pytest.raises(SecretFileError, match="chmod 600"):
        read_secret(str(path))
    with pytest.raises(SecretFileError, match="empty secret"):
        write_secret(str(path), "")


# -- resolve: connect to a given address, keep the name for SNI, certificate and Host ------

# RFC 6761: names under .invalid never resolve. The guard below makes sure the system
# resolver is never even asked for them, so no DNS query leaves this machine.
NAME = "gitea.gauntlet-test.invalid"


@pytest.fixture
def resolver_guard(monkeypatch):
    """Test double of the system resolver for *.invalid: records the question, answers 'unknown'."""
    real = socket.getaddrinfo
    asked = []

    def guarded(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".invalid"):
            asked.append(host)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    return asked


def serve_tls(tmp_path, dns_names):
    """An HTTPS test double on 127.0.0.1 whose certificate names `dns_names`; records the SNI it is asked for."""
    make_ca_and_cert(tmp_path, dns_names=dns_names)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    sni = []
    context.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    Handler.seen, Handler.hosts = [], []
    return server, server.server_address[1], str(tmp_path / "ca.crt"), sni


@pytest.fixture
def named_double(tmp_path):
    server, port, ca, sni = serve_tls(tmp_path, (NAME,))
    yield port, ca, sni
    server.shutdown()
    server.server_close()


def test_resolve_connects_to_the_address_and_keeps_the_name(named_double, resolver_guard):
    port, ca, sni = named_double
    client = HttpClient(ca_path=ca, timeout=5, resolve={NAME: "127.0.0.1"})
    response = client.request("GET", f"https://{NAME}:{port}/set")
    assert response.status == 302 and response.location == f"https://{NAME}:{port}/next"
    # The certificate was verified for the name (SNI), the Host header is the name,
    # cookies belong to the name's origin, and the resolver was never asked.
    assert sni == [NAME]
    assert Handler.hosts == [f"{NAME}:{port}"]
    assert client.cookies[f"https://{NAME}:{port}"] == {"session": "abc", "flash": "1"}
    assert resolver_guard == []


def test_without_resolve_the_same_call_needs_the_resolver(named_double, resolver_guard):
    port, ca, _unused = named_double
    with pytest.raises(ApiError, match=r"cannot connect .*check that the name resolves from the controller"):
        HttpClient(ca_path=ca, timeout=5).request("GET", f"https://{NAME}:{port}/set")
    assert resolver_guard == [NAME]
    assert Handler.seen == []


def test_resolve_still_verifies_the_certificate_against_the_name(tmp_path, resolver_guard):
    # The double's certificate names localhost and 127.0.0.1, not NAME: connecting to
    # 127.0.0.1 must not make the IP address SAN count for NAME.
    server, port, ca, sni = serve_tls(tmp_path, ("localhost",))
    try:
        with pytest.raises(ApiError, match=r"not trusted"):
            HttpClient(ca_path=ca, timeout=5, resolve={NAME: "127.0.0.1"}).request("GET", f"https://{NAME}:{port}/set")
        assert sni == [NAME] and Handler.seen == []
    finally:
        server.shutdown()
        server.server_close()


def test_resolve_applies_to_listed_names_only(https_double, resolver_guard):
    url, ca = https_double
    client = HttpClient(ca_path=ca, timeout=5, resolve={NAME: "127.0.0.9"})
    assert client.request("GET", f"{url}/set").status == 302
    assert Handler.hosts == [url.removeprefix("https://")]


def test_resolve_errors_name_the_address():
    client = HttpClient(timeout=2, resolve={NAME: "127.0.0.1"})
    with pytest.raises(ApiError, match=rf"cannot connect to 127\.0\.0\.1:9 for {NAME}"):
        client.request("GET", f"http://{NAME}:9/")


@pytest.mark.parametrize("bad", [{NAME: "gitea.local"}, {NAME: ""}, {"": "127.0.0.1"}, ["127.0.0.1"]])
def test_resolve_takes_ip_addresses_only(bad):
    with pytest.raises(ApiError, match=r"resolve must map host names to IP addresses"):
        HttpClient(resolve=bad)
