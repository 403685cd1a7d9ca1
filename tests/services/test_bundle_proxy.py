"""playbooks/bundle.yml behind an HTTP(S) proxy (issue 17, item 8): files and images alike.

The lab, in a network namespace this module creates (`ip netns add`, only loopback up; nothing
leaves the machine):

- upstream on 127.0.0.2: a real registry (Debian's docker-registry) over TLS and one over plain
  HTTP, and a file server over HTTPS and one over HTTP, with a CA made for the test;
- Debian's tinyproxy on 127.0.0.1, sending its own connections from 127.0.0.3 (its ``Bind``);
- an iptables rule in the namespace that resets every TCP connection to 127.0.0.2 not coming
  from 127.0.0.3: only the proxy reaches upstream, as behind a site's firewall. The first test
  proves the rule refuses a direct connection.

Two proxies: one that asks for a user and password (``BasicAuth``), one that allows CONNECT to
port 443 only (``ConnectPort 443``), which refuses the registries' ports.
What this cannot prove: other proxies' quirks (squid's error pages, NTLM), and a proxy reached
over TLS (the engine refuses an https:// proxy URL).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_pull import pull_image
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.image_push import push_bundle
from ansible_collections.gauntlet.platform.plugins.module_utils.oci.layout import OciLayout
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.client import RegistryClient
from ansible_collections.gauntlet.platform.plugins.module_utils.registry.errors import RegistryError, TransientError
from controlplane import NetNS
from needs import missing
from playbook_runs import playbook_command
from proxy_env import PROXY_VARS
from tls_material import make_ca_and_cert

REPO = Path(__file__).resolve().parents[2]
REGISTRY_BIN = "/usr/bin/docker-registry"
UPSTREAM = "127.0.0.2"  # where the registries and file servers listen
PROXY_SOURCE = "127.0.0.3"  # the only source address the firewall rule lets reach UPSTREAM
INSIDE = "127.0.0.4"  # a registry inside the site, reached directly (NO_PROXY)
USER, PASSWORD = "gauntlet", "pr0xy-s3cret"
TLS_REGISTRY = f"{UPSTREAM}:5443"
PLAIN_REGISTRY = f"{UPSTREAM}:5000"
INSIDE_REGISTRY = f"{INSIDE}:5000"
AUTH_PROXY = "127.0.0.1:3128"  # BasicAuth
STRICT_PROXY = "127.0.0.1:3129"  # ConnectPort 443 only
DEAD_PROXY = "127.0.0.1:3130"  # nothing listens

pytestmark = pytest.mark.integration


def need(name: str, path: str | None = None) -> str:
    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if not found:
        missing(f"{name} is not installed (Debian package listed in scripts/apt-packages.d/images.txt)")
    return found


def wait_listening(netns: NetNS, host: str, port: int, what: str, proc: subprocess.Popen, log: Path) -> None:
    """Until host:port accepts a connection from PROXY_SOURCE (allowed by the rule), inside the namespace."""

    def probe() -> bool:
        with socket.socket() as sock:
            sock.bind((PROXY_SOURCE, 0))
            sock.settimeout(0.5)
            try:
                sock.connect((host, port))
                return True
            except OSError:
                return False

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text()[-2000:]}")
        if netns.call(probe):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within 20 s: {log.read_text()[-2000:]}")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Lab:
    """The namespace, its firewall rule, upstream servers and the proxies (see the module docstring)."""

    def __init__(self, workdir: Path, before_firewall=None):
        if os.geteuid() != 0:
            missing(
                "the proxy tests need root to create their network namespace (ip netns add); scripts/test runs as root"
            )
        self.registry_bin = need("docker-registry", REGISTRY_BIN)
        self.tinyproxy = need("tinyproxy")
        self.iptables = need("iptables")
        need("ip")
        self.workdir = workdir
        workdir.mkdir(parents=True)
        self.procs: list[subprocess.Popen] = []
        self.servers: list[http.server.HTTPServer] = []
        self.netns = NetNS(f"gauntlet-proxy-{os.getpid()}")
        try:
            self._start()
            if before_firewall is not None:
                before_firewall(self)
            self._firewall()
        except BaseException:
            self.close()
            raise

    def _firewall(self) -> None:
        """From now on only the proxy (source PROXY_SOURCE) reaches UPSTREAM."""
        subprocess.run(
            self.netns.command(
                self.iptables, "-A", "INPUT", "-p", "tcp", "-d", UPSTREAM, "!", "-s", PROXY_SOURCE,
                "-j", "REJECT", "--reject-with", "tcp-reset",
            ),
            check=True,
            capture_output=True,
        )  # fmt: skip

    def _start(self) -> None:
        tls = self.workdir / "tls"
        tls.mkdir()
        self.ca_file, cert, key = make_ca_and_cert(tls, ip_addresses=(UPSTREAM, INSIDE))
        self._registry("tls", TLS_REGISTRY, f"  tls: {{certificate: {cert}, key: {key}}}")
        self._registry("plain", PLAIN_REGISTRY)
        self._registry("inside", INSIDE_REGISTRY)
        self.files = self.workdir / "upstream-files"
        self.files.mkdir()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._file_server(8443, context)
        self._file_server(8080, None)
        self._proxy("auth", AUTH_PROXY, f"BasicAuth {USER} {PASSWORD}")
        self._proxy("strict", STRICT_PROXY, "ConnectPort 443")

    def _registry(self, name: str, addr: str, tls_line: str | None = None) -> None:
        workdir = self.workdir / f"registry-{name}"
        workdir.mkdir()
        lines = [
            "version: 0.1",
            "log: {level: error, accesslog: {disabled: true}}",
            f"storage: {{filesystem: {{rootdirectory: {workdir / 'storage'}}}}}",
            "http:",
            f"  addr: {addr}",
            "  secret: gauntlet-test-secret",
        ]
        if tls_line:
            lines.append(tls_line)
        (workdir / "config.yml").write_text("\n".join(lines) + "\n")
        self._spawn(f"docker-registry {name}", [self.registry_bin, "serve", str(workdir / "config.yml")], addr)

    def _proxy(self, name: str, addr: str, rule: str) -> None:
        host, port = addr.split(":")
        conf = self.workdir / f"tinyproxy-{name}.conf"
        # Without LogFile, tinyproxy -d logs to its output (tinyproxy-<name>.out): one line per
        # request with its target (never the Proxy-Authorization header).
        conf.write_text(
            f"Port {port}\nListen {host}\nBind {PROXY_SOURCE}\nTimeout 60\nMaxClients 50\nLogLevel Connect\n"
            f"User nobody\nGroup nogroup\n{rule}\n"
        )
        self._spawn(f"tinyproxy {name}", [self.tinyproxy, "-d", "-c", str(conf)], addr)

    def _spawn(self, what: str, argv: list[str], addr: str) -> None:
        log = self.workdir / f"{what.replace(' ', '-')}.out"
        with open(log, "ab") as out:
            proc = subprocess.Popen(self.netns.command(*argv), stdout=out, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        host, port = addr.split(":")
        wait_listening(self.netns, host, int(port), what, proc, log)

    def _file_server(self, port: int, context: ssl.SSLContext | None) -> None:
        def make():
            server = http.server.ThreadingHTTPServer(
                (UPSTREAM, port), functools.partial(QuietHandler, directory=str(self.files))
            )
            if context:
                server.socket = context.wrap_socket(server.socket, server_side=True)
            return server

        server = self.netns.call(make)  # the socket belongs to the namespace it was made in
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)

    def proxy_log(self, name: str) -> str:
        path = self.workdir / f"tinyproxy-{name}.out"
        return path.read_text() if path.exists() else ""

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        for proc in self.procs:
            proc.kill()
            proc.wait(10)
        self.netns.close()


@pytest.fixture
def lab(tmp_path):
    built = Lab(tmp_path / "lab")
    yield built
    built.close()


@pytest.fixture
def proxy_env(monkeypatch):
    """Sets exactly the given proxy variables for this process (the image engine reads os.environ)."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)

    def set_(**values):
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


WHEEL_NAME, WHEEL_VERSION = "gauntlet-proxy-probe", "1.0"


def probe_wheel(files: Path) -> Path:
    """A real (minimal) pure-Python wheel and a PEP 503 page for it under ``files``, served by the
    HTTPS file server: pip downloads it as it would from PyPI."""
    module = WHEEL_NAME.replace("-", "_")
    dist_info = f"{module}-{WHEEL_VERSION}.dist-info"
    members = {
        f"{module}/__init__.py": b"",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {WHEEL_NAME}\nVersion: {WHEEL_VERSION}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: gauntlet-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in members.items()
    )
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    (files / "wheels").mkdir()
    wheel = files / "wheels" / f"{module}-{WHEEL_VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    page = files / "simple" / WHEEL_NAME
    page.mkdir(parents=True)
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (page / "index.html").write_text(f'<a href="../../wheels/{wheel.name}#sha256={sha}">{wheel.name}</a>\n')
    return wheel


def client(lab: Lab, registry: str, **extra) -> RegistryClient:
    kwargs = {"plain_http": registry != TLS_REGISTRY, "retries": 0, "backoff": 0.05, "timeout": 20}
    if registry == TLS_REGISTRY:
        kwargs["ca_file"] = str(lab.ca_file)
    kwargs.update(extra)
    return RegistryClient(registry, **kwargs)


def push(lab: Lab, registry: str, test_images, tmp_path: Path, **extra) -> None:
    layout = OciLayout(str(test_images.write_layout(tmp_path / f"src-{registry.replace(':', '-')}")))
    lab.netns.call(push_bundle, layout, client(lab, registry, **extra))


def test_the_firewall_refuses_direct_connections_to_upstream(lab):
    def direct() -> OSError | None:
        try:
            socket.create_connection((UPSTREAM, 5443), timeout=5).close()
        except OSError as exc:
            return exc
        return None

    assert isinstance(lab.netns.call(direct), ConnectionRefusedError), "a direct connection must be refused"


@pytest.mark.parametrize("registry", [TLS_REGISTRY, PLAIN_REGISTRY], ids=["https-connect", "http-absolute-uri"])
def test_images_are_pushed_and_pulled_through_the_proxy(lab, registry, test_images, tmp_path, proxy_env):
    proxy_env(
        HTTPS_PROXY=f"http://{USER}:{PASSWORD}@{AUTH_PROXY}",
        http_proxy=f"http://{USER}:{PASSWORD}@{AUTH_PROXY}",
        NO_PROXY="localhost",
    )
    push(lab, registry, test_images, tmp_path)
    pulled = OciLayout(str(tmp_path / "pulled"), create=True)
    for name, (digest, _media_type) in test_images.images.items():
        result = lab.netns.call(pull_image, f"{registry}/{name}", pulled, client(lab, registry))
        assert result["digest"] == digest
    for digest, data in test_images.blobs.items():
        assert (tmp_path / "pulled" / "blobs" / "sha256" / digest[7:]).read_bytes() == data, digest
    log = lab.proxy_log("auth")
    if registry == TLS_REGISTRY:
        assert f"CONNECT {TLS_REGISTRY} HTTP/1." in log, log[-2000:]
    else:
        assert f"http://{PLAIN_REGISTRY}/v2/" in log, log[-2000:]
    assert PASSWORD not in log


def test_a_proxy_that_is_not_running_is_named_with_its_variable(lab, test_images, tmp_path, proxy_env):
    proxy_env(https_proxy=f"http://{USER}:{PASSWORD}@{DEAD_PROXY}")
    with pytest.raises(TransientError) as error:
        push(lab, TLS_REGISTRY, test_images, tmp_path)
    text = str(error.value)
    assert f"cannot reach the proxy http://{DEAD_PROXY} (from https_proxy)" in text, text
    assert f"to connect to {TLS_REGISTRY}" in text, text
    assert PASSWORD not in text and USER not in text, text


def test_a_proxy_that_refuses_connect_gives_its_status(lab, test_images, tmp_path, proxy_env):
    proxy_env(HTTPS_PROXY=f"http://{STRICT_PROXY}")
    with pytest.raises(RegistryError) as error:
        push(lab, TLS_REGISTRY, test_images, tmp_path)
    text = str(error.value)
    assert not isinstance(error.value, TransientError), "a refusal is not retried"
    assert f"the proxy http://{STRICT_PROXY} (from HTTPS_PROXY) refused CONNECT {TLS_REGISTRY}: HTTP 403" in text, text
    # tinyproxy's reason phrase for a port outside ConnectPort
    assert "Access violation" in text, text


@pytest.mark.parametrize(
    ("registry", "variable"), [(TLS_REGISTRY, "HTTPS_PROXY"), (PLAIN_REGISTRY, "HTTP_PROXY")], ids=["https", "http"]
)
def test_a_proxy_that_wants_credentials_says_so(lab, registry, variable, test_images, tmp_path, proxy_env):
    proxy_env(**{variable: f"http://{AUTH_PROXY}"})
    with pytest.raises(RegistryError) as error:
        push(lab, registry, test_images, tmp_path)
    text = str(error.value)
    assert f"the proxy http://{AUTH_PROXY} (from {variable}) requires authentication (HTTP 407" in text, text
    assert f"put the proxy user and password in {variable}: http://user:password@{AUTH_PROXY}" in text, text


def test_wrong_proxy_credentials_are_refused_without_showing_them(lab, test_images, tmp_path, proxy_env):
    proxy_env(HTTPS_PROXY=f"http://{USER}:wrong-{PASSWORD}@{AUTH_PROXY}")
    with pytest.raises(RegistryError) as error:
        push(lab, TLS_REGISTRY, test_images, tmp_path)
    text = str(error.value)
    # tinyproxy 1.11 answers wrong credentials with 401 Unauthorized (a later version with 407)
    assert (
        f"the proxy http://{AUTH_PROXY} (from HTTPS_PROXY) refused the user and password in HTTPS_PROXY (HTTP 40"
        in text
    ), text
    assert PASSWORD not in text and USER not in text, text


def test_no_proxy_sends_a_host_and_port_directly(lab, test_images, tmp_path, proxy_env):
    # The proxy variable names a proxy that is not running: only NO_PROXY can make this work.
    proxy_env(HTTP_PROXY=f"http://{DEAD_PROXY}", NO_PROXY=f"example.org, {INSIDE_REGISTRY}")
    push(lab, INSIDE_REGISTRY, test_images, tmp_path)
    pulled = OciLayout(str(tmp_path / "pulled"), create=True)
    name = next(iter(test_images.images))
    assert (
        lab.netns.call(pull_image, f"{INSIDE_REGISTRY}/{name}", pulled, client(lab, INSIDE_REGISTRY))["digest"]
        == (test_images.images[name][0])
    )
    # The same host on another port is not listed: that goes to the (dead) proxy.
    proxy_env(NO_PROXY=f"{INSIDE}:5001")
    with pytest.raises(TransientError) as error:
        lab.netns.call(pull_image, f"{INSIDE_REGISTRY}/{name}", pulled, client(lab, INSIDE_REGISTRY))
    assert f"cannot reach the proxy http://{DEAD_PROXY} (from HTTP_PROXY)" in str(error.value)


@pytest.fixture
def upstream_lab(tmp_path, test_images, proxy_env):
    """The lab with the test images in both upstream registries, pushed directly before the
    firewall rule is in place (so that this setup does not depend on the proxy code under test)."""
    proxy_env()

    def seed(lab: Lab) -> None:
        push(lab, TLS_REGISTRY, test_images, tmp_path, retries=1)
        push(lab, PLAIN_REGISTRY, test_images, tmp_path, retries=1)

    built = Lab(tmp_path / "lab", before_firewall=seed)
    yield built
    built.close()


def test_bundle_playbook_fetches_files_wheels_and_images_through_the_proxy(
    upstream_lab, test_images, tmp_path, ansible_env
):
    lab = upstream_lab
    binary = b"#!/bin/sh\necho stand-in k3s\n"
    (lab.files / "k3s").write_bytes(binary)
    (lab.files / "notes.txt").write_bytes(b"fetched over plain HTTP through the proxy\n")
    names = sorted(test_images.images)
    extra_vars = {
        "gauntlet_bundle_dir": str(tmp_path / "bundle"),
        "gauntlet_bundle_files": [
            {"name": "k3s/v0/k3s", "url": f"https://{UPSTREAM}:8443/k3s", "sha256": hashlib.sha256(binary).hexdigest()},
            {"name": "notes/notes.txt", "url": f"http://{UPSTREAM}:8080/notes.txt"},
        ],
        "gauntlet_bundle_extra_images": [f"{TLS_REGISTRY}/{names[0]}", f"{PLAIN_REGISTRY}/{names[1]}"],
        "gauntlet_bundle_plain_http_registries": [PLAIN_REGISTRY],
        "gauntlet_bundle_image_lists": [],
        "gauntlet_bundle_builds": [],
        "gauntlet_bundle_wheel_requirements": [],
    }
    wheel = probe_wheel(lab.files)
    lock_file = tmp_path / "requirements.lock"
    lock_file.write_text(
        f"{WHEEL_NAME}=={WHEEL_VERSION} --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"
    )
    extra_vars.update(
        gauntlet_bundle_wheel_requirements=[str(lock_file)],
        gauntlet_bundle_wheel_index_url=f"https://{UPSTREAM}:8443/simple",
        gauntlet_bundle_wheel_ca_file=str(lab.ca_file),
    )
    varfile = tmp_path / "bundle-vars.json"
    varfile.write_text(json.dumps(extra_vars))
    env = ansible_env(tmp_path)
    for name in PROXY_VARS:
        env.pop(name, None)
    env.update(
        HTTPS_PROXY=f"http://{USER}:{PASSWORD}@{AUTH_PROXY}",
        HTTP_PROXY=f"http://{USER}:{PASSWORD}@{AUTH_PROXY}",
        NO_PROXY="localhost",
        # The test CA, for get_url and the image engine alike (OpenSSL's default verify paths).
        SSL_CERT_FILE=str(lab.ca_file),
    )
    command = playbook_command("bundle.yml", REPO / "inventory" / "sample", "-e", f"@{varfile}")
    result = subprocess.run(
        lab.netns.command(*command), capture_output=True, text=True, cwd=REPO, env=env, check=False, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert PASSWORD not in output
    lock = json.loads((tmp_path / "bundle" / "bundle.lock.json").read_text())
    files = {entry["name"]: entry["sha256"] for entry in lock["files"]}
    assert files == {
        "k3s/v0/k3s": hashlib.sha256(binary).hexdigest(),
        "notes/notes.txt": hashlib.sha256((lab.files / "notes.txt").read_bytes()).hexdigest(),
    }
    locked = {entry["name"]: entry["digest"] for entry in lock["images"]}
    assert locked == {
        f"{TLS_REGISTRY}/{names[0]}": test_images.images[names[0]][0],
        f"{PLAIN_REGISTRY}/{names[1]}": test_images.images[names[1]][0],
    }
    assert [(w["name"], w["filename"]) for w in lock["wheels"]] == [(WHEEL_NAME, wheel.name)]
    assert (tmp_path / "bundle" / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
    log = lab.proxy_log("auth")
    # get_url (urllib) and pip (requests) tunnel to the same HTTPS server: two CONNECTs at least
    assert log.count(f"CONNECT {UPSTREAM}:8443 HTTP/1.") >= 2, "get_url and pip: CONNECT for the HTTPS server"
    assert f"http://{UPSTREAM}:8080/notes.txt" in log, "get_url: absolute URI for the HTTP file"
    assert f"CONNECT {TLS_REGISTRY} HTTP/1." in log, "image engine: CONNECT for the TLS registry"
    assert f"http://{PLAIN_REGISTRY}/v2/" in log, "image engine: absolute URI for the plain-HTTP registry"
