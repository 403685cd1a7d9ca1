"""The real Gitea server (built by scripts/build-gitea) for tests/services/test_gitea_real.py.

Gitea 1.27 (the version the platform deploys, inventory/sample versions.yml), built from the Go
module without the compiled frontend (scripts/build-gitea says why: the API and the package
registry need none), runs on SQLite in a temporary folder, inside a network namespace with only
loopback up (tests/controlplane.py NetNS, ``ip netns add``): whatever Gitea, the playbooks, git or
pip do can reach nothing but that namespace's 127.0.0.1. Commands run through ``ip netns exec``,
which mounts /etc/netns/<name>/hosts over /etc/hosts, so there ``gitea.local`` is 127.0.0.1, as
the controller's hosts entries make it on the platform (local_domains).

It serves HTTPS itself (``[server] PROTOCOL = https`` with ``CERT_FILE``/``KEY_FILE``) with a
certificate for ``gitea.local`` from a throw-away CA (tests/tls_material.py), where the platform
has Traefik end TLS with the local CA in front of plain HTTP: the clients see the same thing, an
``https://gitea.local`` they trust through that CA only.

app.ini: every setting of the gitea role (roles/gitea/vars/main.yml ``__gitea_settings_base``)
whose value is not templated, then what differs here (the keys below are read by
go-gitea/gitea v1.27.3, cited by file):
- ``[server]`` PROTOCOL, CERT_FILE, KEY_FILE, HTTP_ADDR, HTTP_PORT, ROOT_URL, DOMAIN,
  APP_DATA_PATH, STATIC_ROOT_PATH (modules/setting/server.go loadServerFrom; STATIC_ROOT_PATH is
  where a build without ``bindata`` reads templates/ and options/: modules/templates/
  templates_dynamic.go, modules/options/options_dynamic.go);
- ``[database]`` DB_TYPE ``sqlite3`` and PATH (modules/setting/database.go loadDBSetting; the
  pure-Go driver of models/db/driver_sqlite_modernc.go) where the platform has PostgreSQL;
- ``[security]`` INSTALL_LOCK, SECRET_KEY, INTERNAL_TOKEN (modules/setting/security.go,
  generated here as the role's credential lookups generate them) and ALLOWED_HOST_LIST
  ``loopback`` (security.go ``Security.AllowedHostList``, read by webhook.go as the default of
  Webhook.AllowedHostList; ``loopback`` is modules/hostmatcher/hostmatcher.go
  MatchBuiltinLoopback), so the webhook may deliver to the test's receiver on 127.0.0.1;
- ``[oauth2]`` JWT_SECRET, ``[metrics]`` TOKEN: generated;
- ``[repository]`` ROOT, LOCAL_COPY_PATH, TEMP_PATH, ``[log]`` ROOT_PATH, ``[picture]`` and
  ``[attachment]`` paths: inside the temporary folder;
- ``RUN_USER``: the unprivileged user Gitea runs as (modules/setting/setting.go
  mustNotRunAsRoot refuses root; mustCurrentRunUserMatch wants RUN_USER to be that user).

The administrator is made as the role makes it (roles/gitea/tasks/configure.yml, through
``kubectl exec`` there): ``gitea admin user create --admin --username … --email …
--must-change-password=false --password …``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from controlplane import NetNS, require_netns
from keycloak_server import hosts_file, remove_hosts_file, terminate
from needs import missing
from tls_material import make_ca_and_cert

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "scripts" / "build-gitea"
ROLE_VARS = REPO / "roles" / "gitea" / "vars" / "main.yml"
DOMAIN = "gitea.local"
ADMIN = "gauntlet-admin"  # gitea_admin_username of the role
START_TIMEOUT = 120


def distribution() -> Path:
    """The built Gitea of the pin (bin/gitea, templates/, options/); skips (fails in CI) when absent."""
    if shutil.which("go") is None:
        missing("the real Gitea tests need Go to build Gitea (scripts/build-gitea); go is not installed")
    folder = REPO / subprocess.run([str(BUILD), "--dir"], capture_output=True, text=True, check=True).stdout.strip()
    if not (folder / ".complete").is_file():
        missing(f"Gitea is not built ({folder.relative_to(REPO)}): run scripts/build-gitea (scripts/setup does)")
    return folder


def run_user() -> str:
    """The unprivileged user Gitea runs as: the controller user of scripts/lib.sh (it can read the checkout)."""
    done = subprocess.run(["bash", "-c", ". scripts/lib.sh && gauntlet_controller_user"], cwd=REPO,
                          capture_output=True, text=True, check=False)  # fmt: skip
    user = done.stdout.strip()
    try:
        pwd.getpwnam(user)
    except KeyError:
        missing(f"Gitea refuses to run as root and the controller user {user!r} does not exist (scripts/lib.sh)")
    return user


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def role_settings() -> dict[str, dict[str, str]]:
    """The gitea role's app.ini settings whose value is not templated (section -> key -> text)."""
    base = yaml.safe_load(ROLE_VARS.read_text())["__gitea_settings_base"]
    out: dict[str, dict[str, str]] = {}
    for section, settings in base.items():
        for key, value in settings.items():
            if isinstance(value, str) and "{{" in value:
                continue
            text = str(value).lower() if isinstance(value, bool) else str(value)
            out.setdefault(section, {})[key] = text
    return out


def app_ini(settings: dict[str, dict[str, str]]) -> str:
    lines = [f"{key} = {value}" for key, value in settings.get("", {}).items()]
    for section, values in settings.items():
        if section:
            lines += ["", f"[{section}]", *(f"{key} = {value}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


class GiteaServer:
    """Gitea on https://gitea.local:<port> inside ``netns``; ``command`` runs a command there."""

    def __init__(self, dist: Path, netns: NetNS, workdir: Path, user: str):
        self.dist = dist
        self.netns = netns
        self.workdir = workdir
        self.user = user
        self.port = free_port()
        self.url = f"https://{DOMAIN}:{self.port}"
        self.ca, cert, key = make_ca_and_cert(workdir, dns_names=(DOMAIN, "localhost"))
        self.admin_password = secrets.token_urlsafe(18)
        self.config = workdir / "app.ini"
        data = workdir / "data"
        settings = role_settings()
        overrides = {
            "": {"RUN_USER": user, "WORK_PATH": str(workdir)},
            "server": {
                "PROTOCOL": "https",
                "CERT_FILE": str(cert),
                "KEY_FILE": str(key),
                "HTTP_ADDR": "127.0.0.1",
                "HTTP_PORT": str(self.port),
                "DOMAIN": DOMAIN,
                "ROOT_URL": f"{self.url}/",
                "APP_DATA_PATH": str(data),
                "STATIC_ROOT_PATH": str(dist),
            },
            "database": {"DB_TYPE": "sqlite3", "PATH": str(data / "gitea.db")},
            "repository": {"ROOT": str(data / "repositories")},
            "repository.local": {"LOCAL_COPY_PATH": str(workdir / "tmp" / "local-repo")},
            "repository.upload": {"TEMP_PATH": str(workdir / "tmp" / "uploads")},
            "security": {
                "INSTALL_LOCK": "true",
                "SECRET_KEY": secrets.token_hex(32),
                "INTERNAL_TOKEN": secrets.token_hex(32),
                "ALLOWED_HOST_LIST": "loopback",
            },
            # 43 characters of [A-Za-z0-9-_]: unpadded base64url of 32 bytes (roles/gitea/tasks/credentials.yml).
            "oauth2": {"JWT_SECRET": secrets.token_urlsafe(32)},
            "service": {"DISABLE_REGISTRATION": "true", "REQUIRE_SIGNIN_VIEW": "true"},
            "metrics": {"TOKEN": secrets.token_hex(16)},
            "picture": {
                "AVATAR_UPLOAD_PATH": str(data / "avatars"),
                "REPOSITORY_AVATAR_UPLOAD_PATH": str(data / "repo-avatars"),
            },
            "attachment": {"PATH": str(data / "attachments")},
            "log": {"MODE": "file", "LEVEL": "Info", "ROOT_PATH": str(workdir / "log")},
        }
        for section, values in overrides.items():
            settings.setdefault(section, {}).update(values)
        self.settings = settings
        self.config.write_text(app_ini(settings))
        uid = pwd.getpwnam(user)
        for path in [workdir, *workdir.rglob("*")]:
            os.chown(path, uid.pw_uid, uid.pw_gid)
        self.log = None
        self.proc = None

    def start(self):
        self.log = open(self.workdir / "gitea.out", "wb")  # noqa: SIM115 - closed in stop()
        dist, workdir = self.dist, self.workdir
        self.proc = subprocess.Popen(
            self.command(str(dist / "bin" / "gitea"), "web", "--config", str(self.config), "--work-path", str(workdir)),
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env(), cwd=workdir,
        )  # fmt: skip
        self._wait()
        self.gitea("admin", "user", "create", "--admin", "--username", ADMIN, "--email", f"{ADMIN}@{DOMAIN}",
                   "--must-change-password=false", "--password", self.admin_password)  # fmt: skip

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.workdir), "USER": self.user,
                "LANG": "C.UTF-8"}  # fmt: skip

    def command(self, *argv: str) -> list[str]:
        """argv as Gitea's user, inside the namespace."""
        runas = ["runuser", "-u", self.user, "--"] if os.geteuid() == 0 else []
        return self.netns.command(*runas, *argv)

    def gitea(self, *args: str) -> str:
        """The Gitea CLI on this server's app.ini (as the role runs it in the pod)."""
        done = subprocess.run(
            self.command(str(self.dist / "bin" / "gitea"), "--config", str(self.config), "--work-path",
                         str(self.workdir), *args),
            capture_output=True, text=True, env=self.env(), cwd=self.workdir, check=False, timeout=120,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"gitea {args[:3]} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done.stdout

    def request(self, method: str, path: str, auth: tuple[str, str] | None = None, body=None, ca: bool = True):
        """The response (status, json(), text()) of one request to this server, from inside the namespace,
        through the collection's own client (web_client.HttpClient, ``resolve``: gitea.local at 127.0.0.1,
        the name kept for SNI and Host); ``ca=False`` trusts the system's CAs only."""
        from ansible_collections.gauntlet.platform.plugins.module_utils.services.web_client import (
            HttpClient,
            basic_auth,
        )

        client = HttpClient(ca_path=str(self.ca) if ca else None, timeout=30, resolve={DOMAIN: "127.0.0.1"})
        headers = basic_auth(*auth) if auth else {}
        return self.netns.call(client.request, method, self.url + path, json_body=body, headers=headers)

    def _wait(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Gitea exited with {self.proc.returncode}:\n{self.output()}")
            # Not listening yet: the client raises ApiError "cannot connect".
            with contextlib.suppress(Exception):
                if self.request("GET", "/api/healthz").status == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"Gitea did not answer /api/healthz within {START_TIMEOUT} s:\n{self.output()}")

    def output(self) -> str:
        parts = []
        for path in (self.workdir / "gitea.out", self.workdir / "log" / "gitea.log"):
            if path.is_file():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self):
        if self.proc is not None:
            terminate(self.proc, grace=10)
        if self.log is not None:
            self.log.close()


def start(netns_prefix: str = "gauntlet-gitea") -> tuple[GiteaServer, NetNS, Path]:
    """A started server in a new namespace; the caller stops it with ``stop``."""
    require_netns()
    dist = distribution()
    user = run_user()
    netns = NetNS(f"{netns_prefix}-{os.getpid()}")
    hosts_file(netns.name, (DOMAIN,))
    workdir = Path(tempfile.mkdtemp(prefix="gauntlet-gitea-"))
    server = None
    try:
        server = GiteaServer(dist, netns, workdir, user)
        server.start()
        return server, netns, workdir
    except BaseException:
        stop(server, netns, workdir)
        raise


def stop(server: GiteaServer | None, netns: NetNS, workdir: Path) -> None:
    if server is not None:
        server.stop()
    netns.close()
    remove_hosts_file(netns.name)
    shutil.rmtree(workdir, ignore_errors=True)
