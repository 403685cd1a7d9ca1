# Copyright: Cloud Native Gauntlet developers
# Apache License 2.0
"""k3s TEST DOUBLE: not k3s. Installed as `k3s` by the Molecule scenario `k3s` in place of the real binary.

Real k3s cannot run in unprivileged containers, so this small program stands in for it. It:
- records every call (argv, selected environment, the config.yaml it read) as a JSON line in
  /var/lib/k3s-double/calls.jsonl;
- as `k3s server` / `k3s agent` (run by systemd, Type=notify): reads config.yaml, keeps the cluster
  token like k3s does (/var/lib/rancher/k3s/server/token, K10<hash>::server:<token>), refuses to start
  with a different token, joins the server named by `server:` over plain HTTP on the API port
  (the join is refused when the token differs), writes /etc/rancher/k3s/k3s.yaml, tells systemd it is
  ready and then serves a tiny HTTP API: /readyz, /join and /nodes;
- keeps the agent token like k3s does (`agent-token-file` on servers; server/agent-token holds
  K10<hash>::node:<token>, or links to server/token when there is none): an agent joins with the agent
  token or the server token, a server only with the server token. A server of a running cluster
  started with an agent token other than the one it was created with stops like k3s does
  ("passwd newer than datastore": k3s rewrites server/cred/passwd on disk only; deps.go genUsers,
  bootstrap.go ReconcileBootstrapData);
- as `k3s kubectl get --raw /readyz` and `k3s kubectl get nodes -o json`: answers from that API, so
  the role's real waiting logic runs. Every node it reports carries the annotation
  `gauntlet.test/k3s-test-double: "true"`: a node is "Ready" here only because it joined;
- as `k3s kubectl drain|cordon|uncordon NODE`: records the call and succeeds;
- as `k3s --version`: prints the version it was built for (the scenario's prepare step sets VERSION);
- keeps stand-in certificate files (text, not X.509: "k3s test double certificate <file> serial <n>") where
  k3s keeps its leaf certificates (server/tls/client-admin.crt, serving-kube-apiserver.crt, ...; agent/
  client-kubelet.crt, serving-kubelet.crt, ...), made at `k3s server|agent` start when missing, CAs kept;
- as `k3s certificate rotate`: does what upstream's does (k3s-io/k3s pkg/cli/cert/cert.go rotate): backs
  the leaf files up to server/tls-<unix time> (agent/tls-<unix time> on an agent), writes
  server/tls/dynamic-cert-regenerate and deletes them, so the next start makes new ones. Unlike k3s it
  refuses while `k3s server|agent` runs (its pid in /var/lib/k3s-double/k3s.pid), so a test sees that
  the node was stopped first, as docs.k3s.io/cli/certificate says to;
- every path above moves under $K3S_TEST_DOUBLE_ROOT when that is set (connection-local tests);
- "never ready" mode, for the start-timeout test: with K3S_TEST_DOUBLE_NEVER_READY=1 in its environment
  (/etc/default/k3s or /etc/default/k3s-agent, the units' EnvironmentFile), `k3s server|agent` never tells
  systemd it is ready and logs, every second, the line real k3s logs while it cannot join
  ("Waiting to retrieve agent configuration; server is not ready"), like a node with a wrong token or
  a blocked port 6443.
"""

import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "@VERSION@"
ROOT = os.environ.get("K3S_TEST_DOUBLE_ROOT", "").rstrip("/")
STATE = ROOT + "/var/lib/k3s-double"
CONFIG = ROOT + "/etc/rancher/k3s/config.yaml"
DATA = ROOT + "/var/lib/rancher/k3s"
KUBECONFIG = ROOT + "/etc/rancher/k3s/k3s.yaml"
PORT = 6443
# The leaf certificates k3s keeps (k3s-io/k3s pkg/daemons/control/deps/deps.go, pkg/agent/config);
# the CA files next to them are never rotated by `k3s certificate rotate`.
SERVER_LEAVES = ("client-admin", "client-controller", "client-kube-apiserver", "serving-kube-apiserver")
AGENT_LEAVES = ("client-kubelet", "client-kube-proxy", "client-k3s-controller", "serving-kubelet")


def parse_config(path):
    """The subset of YAML the role writes with to_nice_yaml: scalars and lists of scalars."""
    config, key = {}, None
    if not os.path.exists(path):
        return config
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line.startswith("- ") or line.startswith("  - "):
                config[key].append(scalar(line.split("- ", 1)[1]))
                continue
            key, _unused, value = line.partition(":")
            value = value.strip()
            config[key] = [] if value == "" else scalar(value)
    return config


def scalar(text):
    text = text.strip()
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def record(config=None):
    os.makedirs(STATE, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k.startswith(("K3S_", "NOTIFY_SOCKET", "INVOCATION_ID"))}
    entry = {"time": time.time(), "pid": os.getpid(), "argv": sys.argv, "env": env, "config": config}
    with open(os.path.join(STATE, "calls.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def notify_ready():
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(b"READY=1\nSTATUS=k3s test double running\n")


def http(url, payload=None):
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})  # noqa: S310 - plain HTTP to the double
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - plain HTTP to the double
        return json.loads(response.read() or b"null")


def plain(url):
    """The role writes https://host:port; the double speaks plain HTTP on the same port."""
    return url.replace("https://", "http://").rstrip("/")


class Cluster:
    def __init__(self, token, agent_token=None, upstream=None):
        self.token = token
        self.agent_token = agent_token or token
        self.upstream = upstream
        self.lock = threading.Lock()
        self.path = os.path.join(STATE, "nodes.json")

    def nodes(self):
        if self.upstream:
            return http(self.upstream + "/nodes")
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as handle:
                return json.load(handle)
        return {}

    def join(self, name, role, token):
        if self.upstream:
            return http(self.upstream + "/join", {"name": name, "role": role, "token": token})
        # The agent token joins agents only; the server token joins both (docs.k3s.io/cli/token).
        accepted = {self.token, self.agent_token} if role == "agent" else {self.token}
        if token not in accepted:
            raise PermissionError("token mismatch")
        with self.lock:
            nodes = self.nodes()
            nodes[name] = {"role": role, "joined": nodes.get(name, {}).get("joined", time.time()), "seen": time.time()}
            with open(self.path, "w", encoding="utf-8") as handle:
                json.dump(nodes, handle)
        return {"joined": name}


def serve(cluster):
    class Handler(BaseHTTPRequestHandler):
        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/readyz":
                self.reply(200, "ok")
            elif self.path == "/nodes":
                self.reply(200, cluster.nodes())
            else:
                self.reply(404, "not found")

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            try:
                self.reply(200, cluster.join(body.get("name"), body.get("role"), body.get("token")))
            except PermissionError as exc:
                self.reply(401, str(exc))
            except (urllib.error.URLError, OSError) as exc:
                self.reply(502, str(exc))

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()  # noqa: S104 - the API port of a node


def join_upstream(url, name, role, token):
    for _unused in range(60):
        try:
            return http(plain(url) + "/join", {"name": name, "role": role, "token": token})
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                sys.exit(f"k3s test double: {url} refused to join {name}: the token does not match the cluster")
            time.sleep(1)
        except (urllib.error.URLError, OSError):
            time.sleep(1)
    sys.exit(f"k3s test double: cannot reach {url} to join")


def write_kubeconfig():
    text = (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n"
        "    certificate-authority-data: azNzLXRlc3QtZG91YmxlCg==\n  name: default\n"
        "contexts:\n- context:\n    cluster: default\n    user: default\n  name: default\n"
        "current-context: default\nusers:\n- name: default\n  user:\n    token: k3s-test-double\n"
    )
    fd = os.open(KUBECONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def never_ready(config):
    """Hang like a node that cannot join: never READY=1, the same log line again and again."""
    server = config.get("server") or "https://127.0.0.1:6443"
    while True:
        print(
            f'level=info msg="Waiting to retrieve agent configuration; server is not ready: '
            f'{server}/v1-k3s/serving-kubelet.crt: connection refused (k3s test double, never-ready mode)"',
            file=sys.stderr,
            flush=True,
        )
        time.sleep(1)


def leaf_files(kind):
    """The leaf certificate and key files of a server (its own and its agent's) or an agent."""
    files = [os.path.join(DATA, "agent", f"{name}.{ext}") for name in AGENT_LEAVES for ext in ("crt", "key")]
    if kind == "server":
        files += [
            os.path.join(DATA, "server", "tls", f"{name}.{ext}") for name in SERVER_LEAVES for ext in ("crt", "key")
        ]
    return files


def issue_certificates(kind):
    """Make the missing leaf files (a real k3s makes its certificates when it starts)."""
    for path in leaf_files(kind):
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(f"k3s test double certificate {os.path.basename(path)} serial {uuid.uuid4().int}\n")
    trigger = os.path.join(DATA, "server", "tls", "dynamic-cert-regenerate")
    if os.path.exists(trigger):
        os.remove(trigger)


def running_pid():
    try:
        with open(os.path.join(STATE, "k3s.pid"), encoding="utf-8") as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            if handle.read().split(") ", 1)[1][0] == "Z":  # ended, never reaped
                return None
    except (OSError, ValueError, IndexError):
        return None
    return pid


def certificate(args):
    record()
    if args[:1] != ["rotate"]:
        print(f"k3s test double: `k3s certificate {' '.join(args)}` is not implemented", file=sys.stderr)
        return 1
    pid = running_pid()
    if pid:
        print(
            f"k3s test double: k3s runs (pid {pid}); stop it before `k3s certificate rotate` "
            "(docs.k3s.io/cli/certificate: stop K3s, rotate, start K3s)",
            file=sys.stderr,
        )
        return 1
    kind = "server" if os.path.isdir(os.path.join(DATA, "server")) else "agent"
    backup = os.path.join(DATA, kind, f"tls-{int(time.time())}")
    os.makedirs(backup, exist_ok=True)
    for path in leaf_files(kind):
        if os.path.exists(path):
            shutil.copy2(path, os.path.join(backup, os.path.basename(path)))
            os.remove(path)
    if kind == "server":
        os.makedirs(os.path.join(DATA, "server", "tls"), exist_ok=True)
        open(os.path.join(DATA, "server", "tls", "dynamic-cert-regenerate"), "w").close()
    print(f"Successfully backed up certificates to {backup}, please restart k3s {kind} to rotate certificates")
    return 0


def run_node(kind):
    config = parse_config(CONFIG)
    record(config)
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "k3s.pid"), "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()}\n")
    issue_certificates(kind)
    if os.environ.get("K3S_TEST_DOUBLE_NEVER_READY") == "1":
        never_ready(config)
    token = ""
    if config.get("token-file"):
        with open(config["token-file"], encoding="utf-8") as handle:
            token = handle.read().strip()
    token = config.get("token", token)
    name = config.get("node-name") or socket.gethostname()
    if kind == "server":
        agent_token = ""
        if config.get("agent-token-file"):
            with open(config["agent-token-file"], encoding="utf-8") as handle:
                agent_token = handle.read().strip()
        agent_token = config.get("agent-token", agent_token) or token
        os.makedirs(os.path.join(DATA, "server"), exist_ok=True)
        stored_path = os.path.join(DATA, "server", "token")
        agent_path = os.path.join(DATA, "server", "agent-token")
        if os.path.exists(stored_path):
            with open(stored_path, encoding="utf-8") as handle:
                stored = handle.read().strip().rsplit(":", 1)[-1]
            if stored != token:
                sys.exit("k3s test double: bootstrap data already found and encrypted with a different token")
            stored_agent = stored
            if os.path.exists(agent_path):
                with open(agent_path, encoding="utf-8") as handle:
                    stored_agent = handle.read().strip().rsplit(":", 1)[-1]
            if stored_agent != agent_token:
                sys.exit(
                    f"k3s test double: {DATA}/server/cred/passwd newer than datastore and could cause a cluster "
                    "outage (the agent token changed on a running cluster)"
                )
        if config.get("server"):
            join_upstream(config["server"], name, "server", token)
            cluster = Cluster(token, agent_token, upstream=plain(config["server"]))
        else:
            cluster = Cluster(token, agent_token)
            cluster.join(name, "server", token)
        with open(stored_path, "w", encoding="utf-8") as handle:
            handle.write(f"K10{hashlib.sha256(token.encode()).hexdigest()}::server:{token}\n")
        if not os.path.lexists(agent_path):
            if agent_token == token:
                os.symlink("token", agent_path)
            else:
                with open(agent_path, "w", encoding="utf-8") as handle:
                    handle.write(f"K10{hashlib.sha256(token.encode()).hexdigest()}::node:{agent_token}\n")
        write_kubeconfig()
        threading.Thread(target=serve, args=(cluster,), daemon=True).start()
        notify_ready()
        while True:
            time.sleep(3600)
    if not config.get("server"):
        sys.exit("k3s test double: an agent needs `server` in config.yaml")
    if any(key in config for key in ("cluster-init", "secrets-encryption", "kube-apiserver-arg", "agent-token-file")):
        sys.exit("k3s test double: an agent was given server flags")
    join_upstream(config["server"], name, "agent", token)
    notify_ready()
    while True:
        time.sleep(3600)


def node_list(nodes):
    items = []
    for name, node in sorted(nodes.items()):
        roles = {"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/etcd": "true"}
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {"kubernetes.io/hostname": name, **(roles if node["role"] == "server" else {})},
                    "annotations": {"gauntlet.test/k3s-test-double": "true"},
                },
                "status": {
                    "conditions": [{"type": "Ready", "status": "True", "reason": "JoinedTheTestDouble"}],
                    "nodeInfo": {"kubeletVersion": VERSION.split("+", maxsplit=1)[0]},
                },
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def kubectl(args):
    record()
    local = f"http://127.0.0.1:{PORT}"
    try:
        if args[:3] == ["get", "--raw", "/readyz"]:
            print(http(local + "/readyz"))
            return 0
        if args[:2] == ["get", "nodes"]:
            print(json.dumps(node_list(http(local + "/nodes")), indent=2))
            return 0
    except (urllib.error.URLError, OSError) as exc:
        print(f"k3s test double: the API at {local} does not answer: {exc}", file=sys.stderr)
        return 1
    if args and args[0] in ("drain", "cordon", "uncordon"):
        print(f"node/{args[1]} {args[0]}ed (k3s test double)")
        return 0
    print(f"k3s test double: kubectl {' '.join(args)} is not implemented", file=sys.stderr)
    return 1


def main():
    args = sys.argv[1:]
    if args[:1] in (["--version"], ["-v"], ["version"]):
        record()
        print(f"k3s version {VERSION} (k3s test double)")
        return 0
    if args[:1] in (["server"], ["agent"]):
        return run_node(args[0])
    if args[:1] == ["kubectl"]:
        return kubectl(args[1:])
    if args[:1] == ["certificate"]:
        return certificate(args[1:])
    record()
    print(f"k3s test double: `k3s {' '.join(args)}` is not implemented", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
