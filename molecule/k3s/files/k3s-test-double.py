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
  a blocked port 6443;
- as `k3s etcd-snapshot save|ls|prune|delete` and `k3s server --cluster-reset
  --cluster-reset-restore-path=FILE`: keeps etcd snapshots as files the way k3s lays them out (see
  "etcd snapshots" below); only the flags k3s defines are accepted.

Local mode, for tests that run playbooks with `connection: local` (tests/k3s_local.py LocalCluster):
with K3S_TEST_DOUBLE_ROOT=<dir> every path above lives under <dir> (one folder per node), and with
K3S_TEST_DOUBLE_CLUSTER=<dir> the nodes share that folder: the call log (calls.jsonl, one line per
call, with the node) and the node list. Installed under the name `systemctl` (a link to this file),
it is also a systemctl TEST DOUBLE for the units `k3s` and `k3s-agent`: `show`, `is-active`,
`is-enabled`, `daemon-reload`, `start`, `stop`, `restart`, with each node's unit states in
<root>/var/lib/k3s-double/units.json; a started unit's node is Ready in `k3s kubectl get nodes`,
a stopped one is not. No process keeps running in local mode.
"""

import hashlib
import io
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
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "@VERSION@"
# Local mode (see above): every path under one folder per node, and a folder the nodes share.
ROOT = os.environ.get("K3S_TEST_DOUBLE_ROOT", "").rstrip("/")
CLUSTER = os.environ.get("K3S_TEST_DOUBLE_CLUSTER", "")
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


def record(config=None, **seen):
    """One JSON line per call; in local mode in the shared log, with the node's name and what the
    call saw (`seen`), so a test reads the order of every node's calls from one file."""
    folder = CLUSTER or STATE
    os.makedirs(folder, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k.startswith(("K3S_", "NOTIFY_SOCKET", "INVOCATION_ID"))}
    entry = {"time": time.time(), "pid": os.getpid(), "argv": sys.argv, "env": env, "config": config}
    if CLUSTER:
        entry.update(node=node_name(), seen=seen)
    with open(os.path.join(folder, "calls.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")


def node_name():
    """As k3s: --node-name / K3S_NODE_NAME, then config.yaml's node-name, then the host name."""
    return os.environ.get("K3S_NODE_NAME") or parse_config(CONFIG).get("node-name") or socket.gethostname()


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
        start_datastore(config)
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
                    "conditions": [
                        {"type": "Ready", "status": "True", "reason": "JoinedTheTestDouble"}
                        if node.get("ready", True)
                        else {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}
                    ],
                    "nodeInfo": {"kubeletVersion": VERSION.split("+", maxsplit=1)[0]},
                },
            }
        )
    return {"apiVersion": "v1", "kind": "List", "items": items}


def kubectl(args):
    record()
    if CLUSTER and args[:1] == ["get"]:
        return kubectl_local(args)
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


# --- etcd snapshots --------------------------------------------------------------------------------
# As k3s v1.36 (k3s-io/k3s): snapshots live in ${data-dir}/server/db/snapshots (pkg/etcd/snapshot.go
# snapshotDir, created 0700), are named <name>-<node name>-<unix time> (snapshot(); --name defaults
# to on-demand) and pruned newest-first among the names that start with --name, keeping
# --snapshot-retention (snapshotRetention); the CLI asks the running server (POST /db/snapshot,
# pkg/cli/etcdsnapshot/etcd_snapshot.go) and logs "Snapshot <name> saved." / "... deleted.", and the
# server answers "etcd datastore disabled" when it runs on SQLite or an external datastore. The
# embedded etcd keeps its database in ${data-dir}/server/db/etcd (member/snap/db); a snapshot is
# that bbolt file (whole 512-byte pages) followed by its sha256, which a restore checks (etcd's
# snapshot restore: "expected sha256 ..., got ..."). `k3s server --cluster-reset
# --cluster-reset-restore-path=FILE` moves db/etcd to db/etcd-old-<unix time> first, restores, writes
# db/reset-flag and exits 0 with the message below (pkg/etcd/etcd.go Reset; docs.k3s.io
# cli/etcd-snapshot "Restoring Snapshots"); a normal start removes db/reset-flag (pkg/cluster).
# Flags: the name is the key; True when it takes a value (pkg/cli/cmds/etcd_snapshot.go).
SNAPSHOT_FLAGS = {
    "debug": False, "config": True, "c": True, "log": True, "l": True, "alsologtostderr": False,
    "node-name": True, "data-dir": True, "d": True, "etcd-token": True, "t": True, "etcd-server": True,
    "s": True, "dir": True, "etcd-snapshot-dir": True, "name": True, "snapshot-compress": False,
    "etcd-snapshot-compress": False, "snapshot-retention": True, "etcd-snapshot-retention": True,
}  # fmt: skip
LIST_FLAGS = {**SNAPSHOT_FLAGS, "o": True, "output": True}
RESET_FLAGS = {"cluster-reset": False, "cluster-reset-restore-path": True}
RESET_DONE = (
    "Managed etcd cluster membership has been reset, restart without --cluster-reset flag now. "
    "Backup and delete ${datadir}/server/db on each peer etcd server and rejoin the nodes"
)
HASH_SIZE = 32


def log(level, message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f'time="{stamp}" level={level} msg="{message}"', file=sys.stderr, flush=True)
    return 1 if level == "fatal" else 0


def now():
    """The clock k3s names snapshots with; tests may fix it (K3S_TEST_DOUBLE_NOW)."""
    return int(os.environ.get("K3S_TEST_DOUBLE_NOW") or time.time())


def parse_flags(args, known):
    """urfave/cli style: --flag value, --flag=value, -f value; a flag k3s does not define is refused."""
    flags, positional, index = {}, [], 0
    while index < len(args):
        arg = args[index]
        index += 1
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name not in known:
            print(f"Incorrect Usage: flag provided but not defined: -{name}", file=sys.stderr)
            sys.exit(1)
        if known[name] and not has_value:
            if index >= len(args):
                print(f"Incorrect Usage: flag needs an argument: -{name}", file=sys.stderr)
                sys.exit(1)
            value, index = args[index], index + 1
        flags[name] = value if known[name] else value.lower() != "false"
    return flags, positional


def db_dir():
    return os.path.join(DATA, "server", "db")


def etcd_db():
    return os.path.join(db_dir(), "etcd", "member", "snap", "db")


def write_file(path, data, mode=0o600):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def start_datastore(config, peer_db=None):
    """What a server finds or creates when it starts: the embedded etcd (cluster-init, or joining a
    server) or SQLite (a lone server without cluster-init); nothing for an external datastore."""
    flag = os.path.join(db_dir(), "reset-flag")
    if os.path.exists(flag):
        os.remove(flag)
    if config.get("datastore-endpoint") or os.path.exists(os.path.join(db_dir(), "etcd")):
        return
    if os.path.exists(os.path.join(db_dir(), "state.db")):
        return
    if peer_db:
        with open(peer_db, "rb") as handle:
            write_file(etcd_db(), handle.read())
    elif config.get("cluster-init") or config.get("server") or CLUSTER:
        write_file(etcd_db(), f"k3s test double etcd: cluster created by {node_name()} at {now()}\n".encode())
    else:
        write_file(os.path.join(db_dir(), "state.db"), b"k3s test double: kine on SQLite\n")


def server_problem():
    """Why `k3s etcd-snapshot` gets no answer from this node's server, or None."""
    if CLUSTER:
        running = load_units().get("k3s") == "active"
    else:
        try:
            http(f"http://127.0.0.1:{PORT}/readyz")
            running = True
        except (urllib.error.URLError, OSError):
            running = False
    if not running:
        return (
            f'Error: see server log for details: Post \\"https://127.0.0.1:{PORT}/db/snapshot\\": '
            f"dial tcp 127.0.0.1:{PORT}: connect: connection refused"
        )
    if not os.path.isdir(os.path.join(db_dir(), "etcd")):
        return "Error: see server log for details: etcd datastore disabled"
    return None


def snapshot_folder(flags):
    config = parse_config(CONFIG)
    folder = flags.get("dir") or flags.get("etcd-snapshot-dir") or config.get("etcd-snapshot-dir")
    return folder or os.path.join(db_dir(), "snapshots")


def snapshot_files(folder, prefix=""):
    """(name, created) of the files in `folder` whose name starts with prefix, as k3s dates them:
    the unix time after the last '-' (without .zip), else the file's mtime."""
    found = []
    if not os.path.isdir(folder):
        return found
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isdir(path) or not name.startswith(prefix):
            continue
        stem = name.removesuffix(".zip")
        try:
            created = int(stem[stem.rfind("-") + 1 :])
        except ValueError:
            created = int(os.path.getmtime(path))
        found.append((name, created))
    return found


def etcd_snapshot(args):
    record()
    if not args or args[0] not in ("save", "ls", "list", "l", "prune", "delete"):
        print("k3s test double: etcd-snapshot needs save, ls, prune or delete", file=sys.stderr)
        return 1
    verb = args[0]
    flags, positional = parse_flags(args[1:], LIST_FLAGS if verb in ("ls", "list", "l") else SNAPSHOT_FLAGS)
    problem = server_problem()
    if problem:
        return log("fatal", problem)
    folder = snapshot_folder(flags)
    if verb == "save":
        if positional:
            return log("fatal", "Error: this command does not take any arguments")
        name = f"{flags.get('name', 'on-demand')}-{node_name()}-{now()}"
        with open(etcd_db(), "rb") as handle:
            data = handle.read()
        data += b"\0" * (-len(data) % 512)
        snapshot = data + hashlib.sha256(data).digest()
        if flags.get("snapshot-compress") or flags.get("etcd-snapshot-compress"):
            os.makedirs(folder, mode=0o700, exist_ok=True)
            with zipfile.ZipFile(os.path.join(folder, name + ".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(name, snapshot)
            name += ".zip"
        else:
            write_file(os.path.join(folder, name), snapshot)
        return log("info", f"Snapshot {name} saved.")
    if verb in ("ls", "list", "l"):
        files = sorted(snapshot_files(folder), key=lambda item: (item[1], item[0]))
        items = [
            {
                "apiVersion": "k3s.cattle.io/v1",
                "kind": "ETCDSnapshotFile",
                "metadata": {"name": f"local-{name}"},
                "spec": {
                    "snapshotName": name,
                    "nodeName": node_name(),
                    "location": "file://" + os.path.join(folder, name),
                },
                "status": {
                    "readyToUse": True,
                    "size": str(os.path.getsize(os.path.join(folder, name))),
                    "creationTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
                },
            }
            for name, created in files
        ]
        if flags.get("o", flags.get("output", "")) == "json":
            print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=4))
            return 0
        rows = [("Name", "Location", "Size", "Created")] + [
            (i["spec"]["snapshotName"], i["spec"]["location"], i["status"]["size"], i["status"]["creationTime"])
            for i in items
        ]
        widths = [max(len(row[col]) for row in rows) for col in range(4)]
        for row in rows:
            print(" ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        return 0
    if verb == "prune":
        retention = int(flags.get("snapshot-retention", flags.get("etcd-snapshot-retention", 5)))
        prefix = flags.get("name", "on-demand")
        files = snapshot_files(folder, prefix)
        if retention < 1 or len(files) <= retention:
            return 0
        files.sort(key=lambda item: item[1], reverse=True)
        for name, _created in files[retention:]:
            os.remove(os.path.join(folder, name))
            log("info", f"Snapshot {name} deleted.")
        return 0
    if not positional:
        return log("fatal", "Error: no snapshots given for removal")
    for name in positional:
        if os.path.basename(name) != name:
            return log("fatal", "Error: see server log for details: invalid snapshot name: path traversal not allowed")
        path = os.path.join(folder, name)
        if os.path.exists(path):
            os.remove(path)
            log("info", f"Snapshot {name} deleted.")
        else:
            log("warning", f"Snapshot {name} not found.")
    return 0


def cluster_reset(args):
    """`k3s server --cluster-reset [--cluster-reset-restore-path=FILE]` in the foreground: restore,
    reset the membership to this one server, exit."""
    record(parse_config(CONFIG))
    flags, positional = parse_flags(args, RESET_FLAGS)
    if positional:
        return log("fatal", f"k3s test double: unexpected arguments {positional}")
    if server_running_here():
        return log("fatal", f"listen tcp :{PORT}: bind: address already in use (k3s is running on this node)")
    flag = os.path.join(db_dir(), "reset-flag")
    restore = flags.get("cluster-reset-restore-path", "")
    if not restore and os.path.exists(flag):
        return log(
            "fatal",
            "Managed etcd cluster membership was previously reset, please remove the cluster-reset flag and "
            f"start k3s normally. If you need to perform another cluster reset, you must first manually delete the file at {flag}",
        )
    if restore:
        if not os.path.exists(restore):
            return log("fatal", f"etcd: snapshot path does not exist: {restore}")
        with open(restore, "rb") as handle:
            snapshot = handle.read()
        if restore.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(snapshot)) as archive:
                snapshot = archive.read(archive.namelist()[0])
        etcd = os.path.join(db_dir(), "etcd")
        if os.path.exists(etcd):
            old = f"{etcd}-old-{now()}"
            os.rename(etcd, old)
            log("info", f"Pre-restore etcd database moved to {old}")
        if len(snapshot) % 512 != HASH_SIZE:
            return log("fatal", "snapshot missing hash but --skip-hash-check=false")
        body, digest = snapshot[:-HASH_SIZE], snapshot[-HASH_SIZE:]
        if hashlib.sha256(body).digest() != digest:
            return log("fatal", f"expected sha256 {list(digest)}, got {list(hashlib.sha256(body).digest())}")
        write_file(etcd_db(), body)
        os.makedirs(os.path.join(etcd, "member", "wal"), mode=0o700, exist_ok=True)
    elif not os.path.isdir(os.path.join(db_dir(), "etcd")):
        return log("fatal", "k3s test double: no embedded etcd to reset here")
    write_file(flag, b"")
    return log("info", RESET_DONE)


def server_running_here():
    if CLUSTER:
        return load_units().get("k3s") == "active"
    try:
        http(f"http://127.0.0.1:{PORT}/readyz")
    except (urllib.error.URLError, OSError):
        return False
    return True


# --- local mode: the systemctl double and the shared node list ----------------------------------
def load_units():
    path = os.path.join(STATE, "units.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_units(units):
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "units.json"), "w", encoding="utf-8") as handle:
        json.dump(units, handle)


def cluster_nodes():
    path = os.path.join(CLUSTER, "nodes.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def set_node(ready, role):
    nodes = cluster_nodes()
    nodes[node_name()] = {"role": role, "ready": ready, "root": ROOT}
    with open(os.path.join(CLUSTER, "nodes.json"), "w", encoding="utf-8") as handle:
        json.dump(nodes, handle)


def peer_etcd_db():
    """The database of a running server of the cluster, which a joining server copies."""
    for name, node in sorted(cluster_nodes().items()):
        path = node["root"] + "/var/lib/rancher/k3s/server/db/etcd/member/snap/db"
        if name != node_name() and node["role"] == "server" and node["ready"] and os.path.exists(path):
            return path
    return None


def db_state():
    return {
        "db": os.path.exists(db_dir()),
        "etcd": os.path.exists(os.path.join(db_dir(), "etcd")),
        "reset_flag": os.path.exists(os.path.join(db_dir(), "reset-flag")),
    }


def systemctl(args):
    """systemctl TEST DOUBLE (local mode only): the verbs ansible.builtin.systemd_service uses."""
    if not CLUSTER:
        print("systemctl test double: runs in local mode only (K3S_TEST_DOUBLE_CLUSTER)", file=sys.stderr)
        return 1
    options = [arg for arg in args if arg.startswith("-")]
    words = [arg for arg in args if not arg.startswith("-")]
    verb, units = (words[0], [w.removesuffix(".service").strip("'*") for w in words[1:]]) if words else ("", [])
    state = load_units()
    if verb in ("daemon-reload", "daemon-reexec"):
        return 0
    if not units:
        print(f"systemctl test double: `systemctl {' '.join(args)}` is not implemented", file=sys.stderr)
        return 1
    unit = units[0]
    if verb == "show":
        if unit not in state:
            print(f"Id={unit}.service\nNames={unit}.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead")
            return 0
        active = state[unit] == "active"
        print(
            f"Id={unit}.service\nNames={unit}.service\nLoadState=loaded\nActiveState={state[unit]}\n"
            f"SubState={'running' if active else 'dead'}\nUnitFileState=enabled\nType=notify\n"
            f"FragmentPath={ROOT}/etc/systemd/system/{unit}.service"
        )
        return 0
    if unit not in state:
        print(f"Failed to {verb} {unit}.service: Unit {unit}.service not found.", file=sys.stderr)
        return 5 if verb in ("start", "stop", "restart") else 4
    if verb == "is-active":
        print(state[unit])
        return 0 if state[unit] == "active" else 3
    if verb in ("is-enabled", "enable"):
        print("enabled")
        return 0
    if verb == "list-unit-files":
        print(f"UNIT FILE STATE PRESET\n{unit}.service enabled enabled")
        return 0
    if verb not in ("start", "stop", "restart"):
        print(f"systemctl test double: `systemctl {' '.join(args)}` is not implemented", file=sys.stderr)
        return 1
    record(unit=unit, options=options, **db_state())
    role = "server" if unit == "k3s" else "agent"
    if verb in ("start", "restart"):
        if role == "server":
            start_datastore({}, peer_etcd_db())
        state[unit] = "active"
    else:
        state[unit] = "inactive"
    save_units(state)
    set_node(state[unit] == "active", role)
    return 0


def kubectl_local(args):
    if load_units().get("k3s") != "active":
        print(
            f"The connection to the server 127.0.0.1:{PORT} was refused - did you specify the right host or port?",
            file=sys.stderr,
        )
        return 1
    if args[:3] == ["get", "--raw", "/readyz"]:
        print("ok")
        return 0
    if args[:2] == ["get", "nodes"]:
        print(json.dumps(node_list(cluster_nodes()), indent=2))
        return 0
    print(f"k3s test double: kubectl {' '.join(args)} is not implemented", file=sys.stderr)
    return 1


def main():
    args = sys.argv[1:]
    if os.path.basename(sys.argv[0]) == "systemctl":
        return systemctl(args)
    if args[:1] in (["--version"], ["-v"], ["version"]):
        record()
        print(f"k3s version {VERSION} (k3s test double)")
        return 0
    if args[:1] == ["server"] and any(arg.split("=", 1)[0] == "--cluster-reset" for arg in args):
        return cluster_reset(args[1:])
    if args[:1] == ["etcd-snapshot"]:
        return etcd_snapshot(args[1:])
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
