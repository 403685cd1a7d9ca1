"""Prometheus scrapes the registry where the registry really serves its metrics.

The registry's config.yml is rendered by Ansible from the registry role's own template, vars
and defaults for the sample inventory's registry host; the monitoring role's ScrapeConfig
`registry` is rendered by playbooks/platform.yml (render mode, --tags monitoring). The real
registry binary (Debian's docker-registry, distribution 2.8) is then started with that
config inside a network namespace this test creates (only loopback up, the registry host's
node address added to it), and the scrape URL is built from the ScrapeConfig alone
(scheme, target, metricsPath; the target's host resolved the way CoreDNS resolves it, from
local_domains_direct). Upstream: distribution v2.8.3 and v3.1.1 registry/registry.go
(the debug server on http.debug.addr with DefaultServeMux: net/http/pprof, expvar,
/debug/health and, with http.debug.prometheus.enabled, the metrics handler);
registry/handlers/app.go (registry_http_* families, namespace "registry", subsystem
"http"); ../shared/upstream/distribution/library-image/*/config.yml (debug :5001,
prometheus /metrics).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml
from tls_material import make_ca_and_cert

pytestmark = pytest.mark.integration

REGISTRY_BIN = "/usr/bin/docker-registry"
REQUIRE_ALL = os.environ.get("GAUNTLET_REQUIRE_ALL") == "1"

RENDER_CONFIG = """---
- name: Render the registry role's config.yml for the registry host
  hosts: registry
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  roles:
    - gauntlet.platform.gauntlet
  tasks:
    - name: Render the role's template
      ansible.builtin.template:
        src: {role}/templates/config.yml.j2
        dest: "{{{{ __dest }}}}"
        mode: "0600"
      delegate_to: localhost
"""

# Runs inside the network namespace: starts the registry, makes one API call (so the
# per-handler families have a sample), then GETs the scrape URL and a few debug pages.
IN_NAMESPACE = textwrap.dedent(
    """
    import json, socket, ssl, subprocess, sys, time, urllib.error, urllib.request
    args = json.loads(sys.argv[1])
    log = open(args["log"], "wb")
    proc = subprocess.Popen([args["binary"], "serve", args["config"]], stdout=log, stderr=subprocess.STDOUT)
    result = {}
    def wait(host, port):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                socket.create_connection((host, port), timeout=0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False
    def get(url, context=None):
        try:
            with urllib.request.urlopen(url, timeout=10, context=context) as response:
                return {"status": response.status, "type": response.headers.get("Content-Type", ""),
                        "body": response.read().decode("utf-8", "replace")}
        except urllib.error.HTTPError as exc:
            return {"status": exc.code, "type": "", "body": ""}
        except OSError as exc:
            return {"status": None, "error": repr(exc)}
    try:
        result["api_listening"] = wait(args["api_host"], args["api_port"])
        result["debug_listening"] = wait(args["scrape_ip"], args["scrape_port"])
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        result["api"] = get(args["api_url"], insecure)
        result["scrape"] = get(args["scrape_url"])
        result["pprof"] = get(args["pprof_url"])
        result["loopback_debug"] = get(args["loopback_url"])
    finally:
        proc.kill()
        proc.wait(10)
        log.close()
    print(json.dumps(result))
    """
)


def need(name, path=None):
    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if not found:
        reason = f"{name} is not installed (Debian package listed in scripts/apt-packages.d/images.txt)"
        if REQUIRE_ALL:
            pytest.fail(f"GAUNTLET_REQUIRE_ALL=1 but {reason}")
        pytest.skip(reason)
    return found


def netns_available():
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        reason = f"cannot create a network namespace (unshare -rn): {probe.stderr.strip()}"
        if REQUIRE_ALL:
            pytest.fail(f"GAUNTLET_REQUIRE_ALL=1 but {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def scrape_config(render_tools, tmp_path_factory):
    """The monitoring role's ScrapeConfig `registry`, and the inventory's local domains."""
    if not render_tools.upstream.is_dir():
        pytest.skip(f"the upstream copies are not at {render_tools.upstream}")
    work = tmp_path_factory.mktemp("monitoring")
    bundle, _unused = render_tools.make_upstream_bundle(work)
    render = work / "render"
    args = [
        "-e",
        json.dumps(
            {
                "gauntlet_render_dir": str(render),
                "gauntlet_credentials_dir": str(work / "credentials"),
                "gauntlet_bundle_dir": str(bundle),
            }
        ),
    ]
    result = render_tools.run_playbook(render_tools.repo / "playbooks/platform.yml", "--tags", "monitoring", *args)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    found = [
        doc
        for path in sorted((render / "monitoring").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "ScrapeConfig" and doc["metadata"]["name"] == "registry"
    ]
    assert len(found) == 1, "the monitoring role rendered no ScrapeConfig registry"
    domains = render_tools.inventory_vars(work, ["local_domains_services", "local_domains_direct"], *args)
    return found[0]["spec"], domains


@pytest.fixture(scope="module")
def registry_config(render_tools, tmp_path_factory):
    """The registry role's config.yml for the sample's registry host, its TLS and htpasswd files in place."""
    work = tmp_path_factory.mktemp("registry")
    config_dir = work / "etc"
    config_dir.mkdir()
    _ca, cert, key = make_ca_and_cert(work)
    shutil.copy(cert, config_dir / "tls.crt")
    shutil.copy(key, config_dir / "tls.key")
    # auth.token's rootcertbundle: the registry refuses to start without it (any certificate
    # serves here; this test reads only the debug listener).
    shutil.copy(cert, config_dir / "token-signer.crt")
    htpasswd = need("htpasswd")
    line = subprocess.run(
        [htpasswd, "-Bbn", "gauntlet", "s3cret-pass"], check=True, capture_output=True, text=True
    ).stdout
    (config_dir / "htpasswd").write_text(line)
    playbook = work / "render-config.yml"
    playbook.write_text(RENDER_CONFIG.format(role=render_tools.repo / "roles" / "registry"))
    dest = config_dir / "config.yml"
    result = render_tools.run_playbook(
        playbook,
        "-e",
        json.dumps(
            {
                "__dest": str(dest),
                # Only the paths change: every endpoint setting is the role's default.
                "registry_config_dir": str(config_dir),
                "registry_storage_dir": str(work / "storage"),
                # Set by tasks/accounts.yml from a generated credential in a real run; the
                # template only puts it in the notification endpoint's header.
                "__registry_push_log_token": "notification-token-of-this-test",
            }
        ),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return dest, yaml.safe_load(dest.read_text())


def test_prometheus_scrape_target_is_served_by_the_real_registry(scrape_config, registry_config, tmp_path):
    binary = need("docker-registry", REGISTRY_BIN)
    netns_available()
    spec, domains = scrape_config
    config_path, config = registry_config

    # What Prometheus will call, from the ScrapeConfig alone.
    (target,) = spec["staticConfigs"][0]["targets"]
    host, _unused, port = target.rpartition(":")
    service = next(name for name, domain in domains["local_domains_services"].items() if domain == host)
    address = domains["local_domains_direct"][service]  # what CoreDNS answers for the name
    scrape_url = f"{spec['scheme'].lower()}://{address}:{port}{spec.get('metricsPath', '/metrics')}"

    api_host, _unused, api_port = config["http"]["addr"].rpartition(":")
    api_host = address if api_host in ("", "0.0.0.0") else api_host
    args = {
        "binary": binary,
        "config": str(config_path),
        "log": str(tmp_path / "registry.log"),
        "api_host": api_host,
        "api_port": int(api_port),
        "api_url": f"https://{api_host}:{api_port}/v2/",
        "scrape_ip": address,
        "scrape_port": int(port),
        "scrape_url": scrape_url,
        "pprof_url": f"http://{address}:{port}/debug/pprof/",
        "loopback_url": f"http://127.0.0.1:{port}{spec.get('metricsPath', '/metrics')}",
    }
    script = tmp_path / "in_namespace.py"
    script.write_text(IN_NAMESPACE)
    # A network namespace of our own: only loopback, with the registry host's address on it.
    shell = f'ip link set lo up && ip addr add {address}/32 dev lo && exec "$0" "$@"'
    proc = subprocess.run(
        ["unshare", "-rn", "sh", "-c", shell, sys.executable, str(script), json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    log = (tmp_path / "registry.log").read_text() if (tmp_path / "registry.log").exists() else ""
    assert proc.returncode == 0, proc.stderr + log[-2000:]
    result = json.loads(proc.stdout)
    assert result["api_listening"], f"the registry did not listen on {api_host}:{api_port}: {log[-2000:]}"
    assert result["api"]["status"] == 401, result["api"]  # auth on, as the role renders it
    assert result["debug_listening"], f"nothing listens on {address}:{port} (the scrape target {target}): {log[-2000:]}"
    scrape = result["scrape"]
    assert scrape["status"] == 200, f"GET {scrape_url}: {scrape}"
    assert scrape["type"].startswith("text/plain"), scrape["type"]
    # The families distribution registers (namespace registry, subsystem http/storage).
    assert "# TYPE registry_http_requests_total counter" in scrape["body"]
    assert 'registry_http_requests_total{code="401",handler="base",method="get"} 1' in scrape["body"]
    assert "# TYPE registry_http_request_duration_seconds histogram" in scrape["body"]
    # The debug server also serves Go's profiler (docs/security.md says so): it must not
    # listen on every address, only on the node address.
    assert result["pprof"]["status"] == 200, result["pprof"]
    assert result["loopback_debug"]["status"] is None, "the debug server listens on loopback as well"
