"""The real Keycloak of the identity tier (tests/identity/), in a loopback-only network namespace.

Keycloak (org.keycloak:keycloak-quarkus-dist, built for PostgreSQL by scripts/install-keycloak)
runs in production mode (`kc.sh start --optimized`) on the Temurin JDK, with Debian's PostgreSQL
(the Task API tests' PostgresServer, here also on TCP 127.0.0.1:5432 of the namespace) as its
database, started with the arguments and the KC_* options of the keycloak role's RENDERED
Deployment (tests/identity/conftest.py renders the role and resolves them: ``pod_environment``):
plain HTTP on 8080 and management on 9000, behind a proxy (proxy-headers xforwarded,
proxy-trusted-addresses), hostname https://keycloak.local and hostname-admin
https://keycloak-admin.local. TLS ends at the real Traefik in front of it
(tests/identity/traefik_proxy.py), as on the platform.

The namespace is tests/controlplane.py's NetNS (`ip netns add`, only loopback up): nothing
Keycloak or a playbook does can leave the machine. Commands run inside it through
``ip netns exec``, which also bind-mounts /etc/netns/<name>/hosts over /etc/hosts, so there the
platform's names resolve to 127.0.0.1 (Traefik) as the controller's /etc/hosts would
(local_domains). This process talks to them on the namespace's thread (NetNS.call); its own
resolver does not see that hosts file, so ``LocalNames`` maps the same names to 127.0.0.1 for
this process while the tier runs (a stand-in for the hosts entries, nothing else).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from needs import missing

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "scripts" / "install-keycloak"
TEMURIN = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
NAMES = ("keycloak.local", "keycloak-admin.local", "tasks.local")
URL = "https://keycloak.local"
ADMIN_URL = "https://keycloak-admin.local"
REALM = "gauntlet"  # gauntlet_keycloak_realm of inventory/sample
ISSUER = f"{URL}/realms/{REALM}"
TASK_API = REPO / "apps" / "task-api"
# Bounded heap: the machine's two cores and its memory are shared (kc.sh's own default
# outside a container is -Xms64m -Xmx512m).
HEAP = "-Xms64m -Xmx640m"
START_TIMEOUT = 600  # the first start creates the schema; 2 shared cores can take minutes


def distribution() -> Path:
    """The unpacked, built Keycloak of the pin; skips (fails in CI) when not installed."""
    folder = REPO / subprocess.run([str(INSTALL), "--dir"], capture_output=True, text=True, check=True).stdout.strip()
    if not (folder / ".complete").is_file():
        missing(
            f"Keycloak is not installed ({folder.relative_to(REPO)}): run scripts/install-keycloak (scripts/setup does)"
        )
    return folder


def java_home() -> Path:
    if (TEMURIN / "bin" / "java").is_file():
        return TEMURIN
    java = shutil.which("java")
    if java is None:
        missing("Keycloak needs a JDK 17, 21 or 25 (Temurin 25 at /usr/lib/jvm/temurin-25-jdk-amd64); none found")
    return Path(java).resolve().parent.parent


def terminate(proc: subprocess.Popen, grace: float = 20) -> None:
    """Stops a process the identity tier started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class LocalNames:
    """This process resolves NAMES to 127.0.0.1 until ``close`` (the namespace's hosts file
    does the same for the commands run in it)."""

    def __init__(self, names=NAMES):
        self.names = set(names)
        self._original = socket.getaddrinfo

        def getaddrinfo(host, *args, **kwargs):
            if isinstance(host, str) and host in self.names:
                host = "127.0.0.1"
            return self._original(host, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo

    def close(self):
        socket.getaddrinfo = self._original


def hosts_file(netns_name: str, names=NAMES) -> Path:
    """/etc/netns/<name>/hosts, which `ip netns exec` mounts over /etc/hosts."""
    folder = Path("/etc/netns") / netns_name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hosts"
    path.write_text("127.0.0.1 localhost " + " ".join(names) + "\n::1 localhost\n")
    return path


def remove_hosts_file(netns_name: str) -> None:
    shutil.rmtree(Path("/etc/netns") / netns_name, ignore_errors=True)


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            todo.append(child)
    return found


def rss_mib(pid: int) -> float:
    """Resident memory of `pid` and its descendants (VmRSS), in MiB."""
    total = 0
    for each in [pid, *_descendants(pid)]:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# The keycloak role's pod: the image's Keycloak home, read-only, with emptyDirs where the
# server writes (roles/keycloak/vars/main.yml __keycloak_home, __keycloak_writable).
ROLE_VARS = REPO / "roles" / "keycloak" / "vars" / "main.yml"


def pod_layout() -> tuple[str, dict[str, str]]:
    """(home, {volume name: path}) of the role's Keycloak pod."""
    import yaml

    role_vars = yaml.safe_load(ROLE_VARS.read_text())
    return role_vars["__keycloak_home"], role_vars["__keycloak_writable"]


class ReadOnlyHome:
    """The distribution as the role's pod sees the image: mounted read-only at ``root`` in a
    private mount namespace (``unshare -m``, so nothing changes outside the command), with
    writable folders of ``workdir`` at the pod's emptyDir paths under the Keycloak home.
    lib/quarkus starts as a copy of the distribution's, as the role's init container makes it.
    Paths outside the home (the pod's /tmp emptyDir) stay the host's: the check covers what
    Keycloak writes under its home, the image's root filesystem."""

    def __init__(self, dist: Path, workdir: Path):
        home, writable = pod_layout()
        self.dist = dist
        self.root = workdir / "keycloak-home"
        self.writable: dict[str, Path] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        for name, path in writable.items():
            if not path.startswith(home + "/"):
                continue
            relative = path[len(home) + 1 :]
            folder = workdir / f"emptydir-{name}"
            if folder.exists():
                shutil.rmtree(folder)
            source = dist / relative
            if source.is_dir():
                shutil.copytree(source, folder, symlinks=True)
            else:
                folder.mkdir(parents=True)
            self.writable[relative] = folder

    def script(self) -> str:
        lines = ["set -e", f"mount -t tmpfs -o mode=0755 keycloak-home '{self.root}'"]
        for child in sorted(self.dist.iterdir()):
            if child.name.startswith("."):
                continue
            target = self.root / child.name
            lines.append(f"mkdir '{target}'" if child.is_dir() else f"touch '{target}'")
            lines.append(f"mount --bind '{child}' '{target}'")
            lines.append(f"mount -o remount,bind,ro '{target}'")
        for relative, folder in self.writable.items():
            lines.append(f"mkdir -p '{self.root / relative}' 2>/dev/null || true")
            lines.append(f"mount --bind '{folder}' '{self.root / relative}'")
        lines.append(f"mount -o remount,ro '{self.root}'")
        lines.append('exec "$@"')
        return "\n".join(lines)

    def wrap(self, *argv: str) -> list[str]:
        """The command ``argv`` run inside the namespace."""
        return ["unshare", "-m", "sh", "-c", self.script(), "sh", *argv]

    def kc(self, *args: str) -> list[str]:
        """kc.sh of the read-only home with ``args``."""
        return self.wrap(str(self.root / "bin" / "kc.sh"), *args)


class KeycloakServer:
    """One Keycloak process in `netns`: ``args`` (the rendered container's) with ``options``
    (KC_* environment variables, the rendered container's resolved by the tier).

    With ``read_only_home`` it runs as the role's pod runs it: a read-only Keycloak home
    with writable lib/quarkus and data only (ReadOnlyHome)."""

    def __init__(
        self, dist: Path, workdir: Path, netns, *, args: list[str], options: dict[str, str],
        read_only_home: bool = False,
    ):  # fmt: skip
        self.home = ReadOnlyHome(dist, workdir) if read_only_home else None
        self.dist = dist
        self.workdir = workdir
        self.netns = netns
        self.args = list(args)
        self.options = dict(options)
        self.admin_username = options["KC_BOOTSTRAP_ADMIN_USERNAME"]
        self.admin_password = options["KC_BOOTSTRAP_ADMIN_PASSWORD"]
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "keycloak.log"
        self.startup_seconds: float | None = None

    def command(self) -> list[str]:
        kc = self.home.kc() if self.home else [str(self.dist / "bin" / "kc.sh")]
        return self.netns.command(*kc, *self.args)

    def environment(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.workdir),
            "JAVA_HOME": str(java_home()),
            "JAVA_OPTS_KC_HEAP": HEAP,
            **self.options,
        }

    def start(self, ready) -> None:
        """Start and wait until `ready()` (called on the namespace's thread) is true."""
        began = time.monotonic()
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            self.command(), env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = began + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Keycloak exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if self.netns.call(ready):
                    self.startup_seconds = time.monotonic() - began
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Keycloak did not answer within {START_TIMEOUT} s:\n{self.log_tail()}")

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def rss_mib(self) -> float:
        return rss_mib(self.proc.pid) if self.proc else 0.0

    def pause(self) -> None:
        """Keycloak stops answering (SIGSTOP to its process group): connections hang, as for a
        server that is down behind a live address."""
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc:
            self._log.close()
        self.proc = None
