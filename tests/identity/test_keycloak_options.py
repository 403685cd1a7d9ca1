"""The keycloak role's server settings against the real Keycloak distribution of the pin
(review L7), without starting a server:

- every `KC_*` option the Deployment sets is an option of that Keycloak (a misspelt or
  removed option, `KC_PROXY_TRUSTED_ADDRESSES` for instance, is ignored by Keycloak with a
  warning, so nothing else would notice);
- `kc.sh build` with the role's build options succeeds on a read-only Keycloak home with
  writable folders only where the pod has emptyDirs (tests/keycloak_server.py ReadOnlyHome),
  which is what the role's init container does before `start --optimized` on a read-only
  root filesystem. The server itself runs the same way for the whole identity tier
  (tests/identity/conftest.py).

Option names are read from the distribution's keycloak-config-api jar (org/keycloak/config/
*Options.class, where Keycloak declares every server option: ProxyOptions holds
`proxy-headers` and `proxy-trusted-addresses`).
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

import keycloak_server
import pytest
import yaml
from keycloak_server import ReadOnlyHome, pod_layout

pytestmark = pytest.mark.identity

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "roles" / "keycloak" / "templates" / "keycloak.yaml.j2"
ROLE_VARS = REPO / "roles" / "keycloak" / "vars" / "main.yml"


def server_options(dist: Path) -> set[str]:
    """Option names (kebab case) declared by the distribution's *Options classes."""
    (jar,) = sorted((dist / "lib" / "lib" / "main").glob("org.keycloak.keycloak-config-api-*.jar"))
    names: set[str] = set()
    with zipfile.ZipFile(jar) as archive:
        for entry in archive.namelist():
            if entry.startswith("org/keycloak/config/") and entry.endswith("Options.class"):
                data = archive.read(entry)
                names |= {m.decode() for m in re.findall(rb"[a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z]{2,}", data)}
    return names


def role_options() -> set[str]:
    """Every KC_* variable the role's template and build options set."""
    found = set(re.findall(r"\bname: (KC_[A-Z0-9_]+)\b", TEMPLATE.read_text()))
    found |= set(yaml.safe_load(ROLE_VARS.read_text())["__keycloak_build_options"])
    return found - {"KC_POD_IPS"}  # the downward API's value, not an option


def test_every_option_the_role_sets_is_an_option_of_the_pinned_keycloak():
    dist = keycloak_server.distribution()
    known = server_options(dist)
    assert "proxy-trusted-addresses" in known and "proxy-headers" in known
    assert "no-such-option" not in known
    wanted = role_options()
    assert {"KC_PROXY_HEADERS", "KC_PROXY_TRUSTED_ADDRESSES", "KC_DB"} <= wanted
    unknown = sorted(name for name in wanted if name[3:].lower().replace("_", "-") not in known)
    assert unknown == [], f"Keycloak {dist.name} has no option for {unknown}"


def test_the_build_writes_only_where_the_pod_has_empty_dirs(tmp_path):
    """The init container's `kc.sh build` on a read-only home: it succeeds, and what it writes
    lands in the lib/quarkus emptyDir."""
    if os.geteuid() != 0:
        pytest.skip("a private mount namespace (unshare -m) needs root")
    dist = keycloak_server.distribution()
    home = ReadOnlyHome(dist, tmp_path)
    home_path, writable = pod_layout()
    assert set(home.writable) == {p[len(home_path) + 1 :] for p in writable.values() if p.startswith(home_path)}
    quarkus = home.writable["lib/quarkus"]
    before = {p.name: p.stat().st_mtime_ns for p in quarkus.iterdir()}
    options = yaml.safe_load(ROLE_VARS.read_text())["__keycloak_build_options"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "JAVA_HOME": str(keycloak_server.java_home()),
        "JAVA_OPTS_KC_HEAP": keycloak_server.HEAP,
        **options,
    }
    result = subprocess.run(home.kc("build"), env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = {p.name: p.stat().st_mtime_ns for p in quarkus.iterdir()}
    assert "quarkus-application.dat" in after
    assert any(after[name] != before.get(name) for name in after), "the build wrote nothing into lib/quarkus"
    # The control: the same home refuses a write outside the emptyDirs.
    probe = subprocess.run(
        home.wrap("/bin/sh", "-c", f"touch '{home.root}/conf/probe'"),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr, probe.stderr
