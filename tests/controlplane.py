"""The real Kubernetes control plane of the tests/cluster/ tier, in a network namespace.

kine (SQLite), kube-apiserver, kube-controller-manager, kube-scheduler and kwok, built by
scripts/build-controlplane from the Go modules pinned in tests/cluster/controlplane/, run in a
network namespace that this module creates with only loopback up (`ip netns add`), so the
API server's dials to webhook, aggregated-API and service addresses (10.43.0.0/16, 10.42.0.0/16)
fail at once with "network unreachable" and no packet leaves the machine (docs/testing.md).

Everything that talks to the control plane runs inside that namespace too: commands through
``ControlPlane.run`` (``ip netns exec``), and Python clients through ``ControlPlane.client``,
whose calls run on one thread that has entered the namespace (setns(2) moves only the calling
thread). Nodes are simulated by kwok: it marks them Ready, keeps their leases and makes the pods
bound to them Running and Ready; no container runs and no traffic flows.

The flags follow what k3s passes its embedded components (k3s pkg/daemons/control/server.go,
apiServer/controllerManager/scheduler; k3s's defaults: cluster CIDR 10.42.0.0/16, service CIDR
10.43.0.0/16, service account issuer https://kubernetes.default.svc.cluster.local).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from needs import missing

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "scripts" / "build-controlplane"
BINARIES = ("kine", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "helm")
CLUSTER_CIDR = "10.42.0.0/16"
SERVICE_CIDR = "10.43.0.0/16"
API_SERVICE_IP = "10.43.0.1"  # the first address of the service CIDR: the `kubernetes` Service
API_PORT = 6443
ISSUER = "https://kubernetes.default.svc.cluster.local"
HOW = "run scripts/build-controlplane (scripts/setup does)"


def binaries() -> Path:
    """The folder of the built binaries for the current pins; skips (fails in CI) when not built."""
    if shutil.which("go") is None:
        missing(f"the control-plane tier needs Go to build its binaries ({HOW}); go is not installed")
    folder = (
        REPO
        / subprocess.run([str(BUILD), "--dir"], capture_output=True, text=True, check=True, cwd=REPO).stdout.strip()
    )
    if not (folder / ".complete").is_file():
        missing(f"control-plane binaries not built for the current pins ({folder.relative_to(REPO)}): {HOW}")
    return folder


def require_netns() -> None:
    """Skips (fails in CI) unless this process can create network namespaces (root and `ip netns`)."""
    if os.geteuid() != 0:
        missing(
            "the control-plane tier needs root to create its network namespace (ip netns add); scripts/test runs as root"
        )
    if shutil.which("ip") is None:
        missing("the control-plane tier needs `ip netns` (Debian package iproute2, scripts/setup installs it)")


CLONE_NEWNET = 0x40000000  # <linux/sched.h>; os.setns/os.CLONE_NEWNET exist only from Python 3.12


def _enter_netns(fd: int) -> None:
    """Move the calling thread into the network namespace open as `fd` (setns(2))."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"setns into the test network namespace: {os.strerror(code)}")


class NetNS:
    """A network namespace with only loopback up, deleted on close."""

    def __init__(self, name: str):
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        try:
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
            self._fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            # One thread inside the namespace for the Python clients (setns(2) moves the calling
            # thread); started now, so that a failing setns stops here.
            self.executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"netns-{name}", initializer=_enter_netns, initargs=(self._fd,)
            )
            self.call(lambda: None)
        except BaseException:
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
            raise

    def inode(self) -> int:
        return os.fstat(self._fd).st_ino

    def call(self, fn, *args, **kwargs):
        """fn(*args, **kwargs) on the thread inside the namespace; its result or its exception."""
        return self.executor.submit(fn, *args, **kwargs).result()

    def command(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        os.close(self._fd)
        subprocess.run(["ip", "netns", "delete", self.name], check=False, capture_output=True)


class Resource:
    """A kind of object of the dynamic client whose verbs run on the namespace's thread:
    ``resource.create(body=...)`` is ``dynamic.create(resource, body=...)`` there."""

    def __init__(self, netns: NetNS, dynamic, resource):
        self._netns = netns
        self._dynamic = dynamic
        self.resource = resource

    def __getattr__(self, verb):
        method = getattr(self._dynamic, verb)
        return lambda *args, **kwargs: self._netns.call(method, self.resource, *args, **kwargs)


def error_message(error) -> str:
    """The message of the Status a kubernetes ApiException carries (its body when not a Status)."""
    body = error.body or ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        return json.loads(text)["message"]
    except (ValueError, KeyError, TypeError):
        return text


# --- certificates and keys ------------------------------------------------------------------


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM)


def _certificate(subject: list, issuer_key, issuer_name, *, ca: bool = False, sans=None, client: bool = False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name if ca else issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        usage = x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(key if ca else issuer_key, hashes.SHA256())
    return key, cert


def make_pki(directory: Path) -> dict[str, Path]:
    """Server CA and serving certificate, client CA and one client certificate per component,
    and the service-account signing key: the material k3s generates (k3s pkg/daemons/control/deps)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def cn(common_name, *orgs):
        return [
            *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]

    files: dict[str, Path] = {}

    def write(name: str, data: bytes, mode: int = 0o644) -> Path:
        path = directory / name
        path.write_bytes(data)
        path.chmod(mode)
        files[name] = path
        return path

    server_ca_key, server_ca = _certificate(cn("gauntlet test server CA"), None, None, ca=True)
    write("server-ca.crt", _pem_cert(server_ca))
    sans = [
        *(
            x509.DNSName(n)
            for n in (
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            )
        ),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address(API_SERVICE_IP)),
    ]
    key, cert = _certificate(cn("kube-apiserver"), server_ca_key, server_ca.subject, sans=sans)
    write("serving-kube-apiserver.crt", _pem_cert(cert))
    write("serving-kube-apiserver.key", _pem_key(key), 0o600)

    client_ca_key, client_ca = _certificate(cn("gauntlet test client CA"), None, None, ca=True)
    write("client-ca.crt", _pem_cert(client_ca))
    write("client-ca.key", _pem_key(client_ca_key), 0o600)
    # The identities k3s gives its components; the bootstrap RBAC policy grants the two
    # system:kube-* users exactly what their components need. kwok acts as every kubelet.
    for name, subject in {
        "admin": cn("system:admin", "system:masters"),
        "controller": cn("system:kube-controller-manager"),
        "scheduler": cn("system:kube-scheduler"),
        "kwok": cn("system:kwok", "system:masters"),
    }.items():
        key, cert = _certificate(subject, client_ca_key, client_ca.subject, client=True)
        write(f"client-{name}.crt", _pem_cert(cert))
        write(f"client-{name}.key", _pem_key(key), 0o600)

    # The front proxy (aggregated APIs): its CA and the client certificate the API server
    # presents to them, named as k3s names it (deps.RequestHeaderCN).
    proxy_ca_key, proxy_ca = _certificate(cn("gauntlet test request-header CA"), None, None, ca=True)
    write("request-header-ca.crt", _pem_cert(proxy_ca))
    key, cert = _certificate(cn("system:auth-proxy"), proxy_ca_key, proxy_ca.subject, client=True)
    write("client-auth-proxy.crt", _pem_cert(cert))
    write("client-auth-proxy.key", _pem_key(key), 0o600)

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write("service.key", _pem_key(sa_key), 0o600)
    return files


def kubeconfig(path: Path, pki: dict[str, Path], user: str) -> Path:
    server = f"https://127.0.0.1:{API_PORT}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "gauntlet", "cluster": {"server": server, "certificate-authority": str(pki["server-ca.crt"])}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(pki[f"client-{user}.crt"]),
                    "client-key": str(pki[f"client-{user}.key"]),
                },
            }
        ],
        "contexts": [{"name": "gauntlet", "context": {"cluster": "gauntlet", "user": user}}],
        "current-context": "gauntlet",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


# --- the control plane ----------------------------------------------------------------------


class ControlPlaneError(RuntimeError):
    pass


@contextlib.contextmanager
def running(plane: ControlPlane, nodes=()):
    """``plane`` started with ``nodes`` registered, stopped on exit; a start that fails stops
    what did start and fails the test with the reason, without a traceback."""
    try:
        plane.start()
        for node in nodes:
            plane.add_node(node)
    except ControlPlaneError as error:
        plane.stop()
        pytest.fail(f"the control plane did not start: {error}", pytrace=False)
    except BaseException:
        plane.stop()
        raise
    try:
        yield plane
    finally:
        plane.stop()


class ControlPlane:
    """Start with start(), stop with stop(); see the module docstring."""

    def __init__(self, bin_dir: Path, workdir: Path, name: str | None = None):
        self.bin_dir = bin_dir
        self.bin = bin_dir / "bin"
        self.dir = workdir
        self.name = name or f"gauntlet-cp-{os.getpid()}"
        self.netns: NetNS | None = None
        self.processes: dict[str, subprocess.Popen] = {}
        self.kubeconfig: Path = workdir / "kubeconfig"
        self.timings: dict[str, float] = {}
        self._dynamic = None

    def kubeconfig_path(self, user: str) -> Path:
        """Where start() writes the kubeconfig of `user` (known before the start)."""
        return self.dir / f"{user}.kubeconfig"

    # processes

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.dir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(self.netns.command(*argv), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, cwd=self.dir)  # fmt: skip
        log.close()

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.dir / f"{name}.log"
        text = path.read_text(errors="replace").splitlines() if path.exists() else []
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with {proc.returncode}; its log ({self.dir / (name + '.log')}) ends:\n{self.log_tail(name)}"
                )

    def _https_ok(self, path: str) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki["server-ca.crt"]))
        context.load_cert_chain(str(self.pki["client-admin.crt"]), str(self.pki["client-admin.key"]))
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{API_PORT}{path}", context=context, timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def get(self, path: str) -> bytes:
        """GET an API path as the admin user, from inside the namespace."""
        context = ssl.create_default_context(cafile=str(self.pki["server-ca.crt"]))
        context.load_cert_chain(str(self.pki["client-admin.crt"]), str(self.pki["client-admin.key"]))

        def fetch():
            with urllib.request.urlopen(f"https://127.0.0.1:{API_PORT}{path}", context=context, timeout=10) as response:
                return response.read()

        return self.netns.call(fetch)

    def _wait(self, what: str, check, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if check():
                return
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{what} not reached within {timeout:.0f} s; logs in {self.dir}")
            time.sleep(0.5)

    def _port_open(self, port: int) -> bool:
        def connect():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                return False

        return self.netns.call(connect)

    def start(self) -> ControlPlane:
        began = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.netns = NetNS(self.name)
        self.pki = make_pki(self.dir)
        pki = {k: str(v) for k, v in self.pki.items()}
        configs = {
            user: kubeconfig(self.kubeconfig_path(user), self.pki, user)
            for user in ("admin", "controller", "scheduler", "kwok")
        }
        self.kubeconfig = configs["admin"]

        # kine: the etcd API on SQLite, as k3s runs it on a single server.
        self._spawn(
            "kine",
            [
                str(self.bin / "kine"),
                "--listen-address=127.0.0.1:2379",
                # No metrics listener: its default, *:8080 (kine v0.17.5 pkg/app/app.go), took the
                # port of Traefik's `traefik` entry point (tests/cluster/test_traefik_real.py);
                # k3s embeds kine as a library and opens no such listener either.
                "--metrics-bind-address=0",
                f"--endpoint=sqlite://{self.dir / 'state.db'}?_journal=WAL&cache=shared&_busy_timeout=30000",
            ],
        )
        self._wait("kine listening on 127.0.0.1:2379", lambda: self._port_open(2379), 60)

        self._spawn("kube-apiserver", [
            str(self.bin / "kube-apiserver"),
            "--storage-backend=etcd3", "--etcd-servers=http://127.0.0.1:2379",
            f"--cert-dir={self.dir / 'apiserver-certs'}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={API_PORT}",
            # Only loopback exists in the namespace: there is no address to publish as the
            # `kubernetes` Service's endpoint, so the endpoint reconciler stays off.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true", "--authorization-mode=Node,RBAC", "--anonymous-auth=false", "--profiling=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--tls-cert-file={pki['serving-kube-apiserver.crt']}", f"--tls-private-key-file={pki['serving-kube-apiserver.key']}",
            f"--client-ca-file={pki['client-ca.crt']}",
            f"--requestheader-client-ca-file={pki['request-header-ca.crt']}", "--requestheader-allowed-names=system:auth-proxy",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            f"--proxy-client-cert-file={pki['client-auth-proxy.crt']}", f"--proxy-client-key-file={pki['client-auth-proxy.key']}",
            f"--service-account-key-file={pki['service.key']}", f"--service-account-signing-key-file={pki['service.key']}",
            f"--service-account-issuer={ISSUER}", f"--api-audiences={ISSUER},k3s",
            # k3s enables NodeRestriction on top of the default plugins, which include PodSecurity,
            # ValidatingAdmissionPolicy and the admission webhooks.
            "--enable-admission-plugins=NodeRestriction",
        ])  # fmt: skip
        self._wait("kube-apiserver /readyz", lambda: self.netns.call(self._https_ok, "/readyz"), 180)

        common = ["--leader-elect=false", "--bind-address=127.0.0.1", "--profiling=false"]
        self._spawn("kube-controller-manager", [
            str(self.bin / "kube-controller-manager"), *common,
            f"--kubeconfig={configs['controller']}", f"--authentication-kubeconfig={configs['controller']}",
            f"--authorization-kubeconfig={configs['controller']}",
            f"--service-account-private-key-file={pki['service.key']}", f"--root-ca-file={pki['server-ca.crt']}",
            "--use-service-account-credentials=true", "--allocate-node-cidrs=true", f"--cluster-cidr={CLUSTER_CIDR}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--cluster-signing-cert-file={pki['client-ca.crt']}", f"--cluster-signing-key-file={pki['client-ca.key']}",
            # no cloud provider, as k3s runs it: its cloud controllers are off
            "--controllers=*,-service,-route,-cloud-node-lifecycle",
            # kwok renews the node leases; on these 2 shared cores (load 10+) a renewal can come
            # later than the default 50 s, and the node lifecycle controller would then mark every
            # pod of the node not Ready for good (kwok does not set it back).
            "--node-monitor-grace-period=5m",
        ])  # fmt: skip
        self._spawn("kube-scheduler", [
            str(self.bin / "kube-scheduler"), *common,
            f"--kubeconfig={configs['scheduler']}", f"--authentication-kubeconfig={configs['scheduler']}", f"--authorization-kubeconfig={configs['scheduler']}",
        ])  # fmt: skip
        # kwok manages only the nodes annotated as its own (kustomize/kwokctl/resource/node.yaml).
        self._spawn("kwok", [
            str(self.bin / "kwok"), f"--kubeconfig={configs['kwok']}", f"--config={self.bin_dir / 'kwok-stages.yaml'}",
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--server-address=127.0.0.1:10247", f"--cidr={CLUSTER_CIDR}", "--node-ip=127.0.0.1",
            # Node leases, as a kubelet keeps them (40 s, kubelet's nodeLeaseDurationSeconds
            # default): the heartbeat Stage updates node status only every 10 min and counts
            # on the lease for liveness (kwok-stages.yaml, node-heartbeat-with-lease).
            "--node-lease-duration-seconds=40",
        ])  # fmt: skip
        self._wait("kube-controller-manager /healthz", lambda: self._healthz(10257), 120)
        self._wait("kube-scheduler /healthz", lambda: self._healthz(10259), 120)
        self.timings["start_s"] = time.monotonic() - began
        return self

    def _healthz(self, port: int) -> bool:
        def fetch():
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # their self-signed serving certificates
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/healthz", context=context, timeout=3
                ) as response:
                    return response.status == 200
            except OSError:
                return False

        return self.netns.call(fetch)

    def stop(self) -> None:
        """Clients first, then the API server, then kine; each gets SIGTERM, then SIGKILL after 15 s."""
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                began = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                self.timings[f"stop_{name}_s"] = time.monotonic() - began
        if self.netns is not None:
            self.netns.close()

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each component (MiB), from /proc."""
        result = {}
        for name, proc in self.processes.items():
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
            except OSError:
                continue
            kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            result[name] = kib / 1024
        return result

    # clients

    def run(self, *argv: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        """A command inside the namespace, with KUBECONFIG set to the admin kubeconfig."""
        env = dict(kwargs.pop("env", os.environ), KUBECONFIG=str(self.kubeconfig))
        return subprocess.run(
            self.netns.command(*argv), capture_output=True, text=True, timeout=timeout, env=env, check=False, **kwargs
        )

    def api_client(self):
        """A kubernetes.client.ApiClient for the admin user (use it on the namespace's thread)."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def dynamic(self):
        """The admin's kubernetes.dynamic.DynamicClient (plain dicts in and out, as ansible's
        kubernetes.core uses), made on the namespace's thread; call it through resource()."""
        if self._dynamic is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic = self.netns.call(DynamicClient, self.api_client())
        return self._dynamic

    def resource(self, api_version: str, kind: str) -> Resource:
        """One kind of object; its verbs (get, create, delete, patch, server_side_apply, replace)
        run inside the namespace. Discovery is refreshed first, so a new CRD's kind is found."""
        dynamic = self.dynamic()
        self.netns.call(dynamic.resources.invalidate_cache)
        return Resource(self.netns, dynamic, self.netns.call(dynamic.resources.get, api_version=api_version, kind=kind))

    def wait_established(self, crd_names, timeout: float = 120) -> None:
        """Until every named CRD is Established (its kind is served); ControlPlaneError after
        ``timeout`` seconds naming the ones that are not."""
        crds = self.resource("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        deadline = time.monotonic() + timeout
        pending = set(crd_names)
        while pending:
            for name in sorted(pending):
                conditions = (crds.get(name=name).to_dict().get("status") or {}).get("conditions") or []
                if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                raise ControlPlaneError(f"CRDs not Established within {timeout:.0f} s: {sorted(pending)}")
            if pending:
                time.sleep(0.5)

    def add_node(
        self, name: str, labels: dict[str, str] | None = None, taints: list[dict] | None = None, address: str = ""
    ) -> None:
        """A Node that kwok simulates (its node template: kustomize/kwokctl/resource/node.yaml).

        `address` is its InternalIP (kwok's default is --node-ip, 127.0.0.1, which the API server
        refuses in the Endpoints of hostNetwork pods); kwok keeps the addresses a Node has."""
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "type": "kwok",
                    **(labels or {}),
                },
            },
            "spec": {"taints": taints} if taints else {},
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"},
                **(
                    {"addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}]}
                    if address
                    else {}
                ),
            },
        }
        self.resource("v1", "Node").create(body=body)
