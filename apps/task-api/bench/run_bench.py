"""Task API benchmark, on demand (not part of the test suite).

Starts, all on loopback: Debian's PostgreSQL (unix socket), a JWKS server with a
freshly generated RSA key, and the Task API as it runs in production
(``python -m task_api``: uvicorn + uvloop + httptools, one process). Then drives
Debian's ``wrk`` against 127.0.0.1 only, each scenario bounded by time and by
request count, and prints requests per second and p99 latency for:

- ``GET /tasks``   with JWT verification and a PostgreSQL query (page of 20),
- ``POST /tasks``  with JWT verification and a PostgreSQL insert,
- ``GET /healthz`` with neither, as the framework baseline,

and the ratio of each to the baseline.

The scenarios run in interleaved rounds (``--rounds``), so a change in the
machine's load falls on all of them alike; the ratios are of the totals, and
per round.

Usage: python3 apps/task-api/bench/run_bench.py [--duration 10] [--rounds 3] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP_DIR))

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from task_api_dev.services import (  # noqa: E402
    KID,
    JwksServer,
    PostgresServer,
    TokenFactory,
    pg_bindir,
    public_jwk,
)

HOST = "127.0.0.1"  # the load generator never targets anything else
SCENARIO = Path(__file__).resolve().parent / "scenario.lua"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the Task API exited with {proc.returncode} before becoming ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback URL we built
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the Task API did not become ready at {url}")


def run_wrk(
    wrk: str, base: str, args: argparse.Namespace, method: str, path: str, token: str = "", body: str = ""
) -> dict:
    per_thread = max(1, args.max_requests // args.threads)
    argv = [
        wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        "5s",
        "-s",
        str(SCENARIO),
        base,
        "--",
        method,
        path,
        str(per_thread),
        token,
        body,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 60, check=False)  # noqa: S603
    if result.returncode != 0:
        raise SystemExit(f"wrk failed: {result.stderr or result.stdout}")
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    stats = json.loads(line)
    stats["rps"] = stats["requests"] / (stats["duration_us"] / 1e6)
    # wrk reports the configured duration even when the request cap stopped it
    # early, so a capped run's rate is only a lower bound.
    stats["capped"] = stats["requests"] >= per_thread * args.threads
    stats["errors"] = sum(v for k, v in stats.items() if k.startswith("errors_"))
    return stats


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds(postgres: PostgresServer) -> float:
    """CPU of the postmaster and every process it forked that is still running (the pool's backends)."""
    try:
        postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if int(entry.name) == postmaster or ppid == postmaster:
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # exited meanwhile
    return total


def _combine(runs: list[dict]) -> dict:
    """Totals over the rounds; latency percentiles are the median of the rounds'."""
    combined = {
        "requests": sum(r["requests"] for r in runs),
        "duration_us": sum(r["duration_us"] for r in runs),
        "capped": any(r["capped"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "rounds_rps": [r["rps"] for r in runs],
    }
    requests = max(combined["requests"], 1)
    combined["server_cpu_us"] = sum(r["server_cpu"] for r in runs) / requests * 1e6
    combined["postgres_cpu_us"] = sum(r["postgres_cpu"] for r in runs) / requests * 1e6
    for key in ("p50_us", "p99_us"):
        combined[key] = statistics.median(r[key] for r in runs)
    combined["rps"] = combined["requests"] / (combined["duration_us"] / 1e6)
    return combined


def seed(base: str, headers: dict[str, str], count: int) -> None:
    for i in range(count):
        request = urllib.request.Request(  # noqa: S310 - loopback URL we built
            f"{base}/tasks",
            data=json.dumps({"title": f"seed {i}", "due_date": "2026-12-31"}).encode(),
            headers={**headers, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert response.status == 201


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="request cap per scenario")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1, leaves a core to the API)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=APP_DIR,
        help="the Task API to run (its task_api package's parent), e.g. an older checkout to compare with",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of every scenario, each --duration long (default 3)"
    )
    parser.add_argument("--no-access-log", action="store_true", help="disable the JSON access log")
    parser.add_argument(
        "--token-cache-size",
        type=int,
        default=4096,
        help="TASK_API_TOKEN_CACHE_SIZE of the server; 0 verifies the RS256 signature on every request",
    )
    args = parser.parse_args()

    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk not found: apt-get install wrk (see scripts/apt-packages.d/task-api.txt)")
    bindir = pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")

    postgres = PostgresServer(bindir)
    postgres.start_or_explain()
    jwks = JwksServer()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks.keys = [public_jwk(key, KID)]
    tokens = TokenFactory(key, jwks.issuer)
    port = free_port()
    base = f"http://{HOST}:{port}"
    logdir = Path(tempfile.mkdtemp(prefix="task-api-bench-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(args.app_dir.resolve()),
        "TASK_API_DATABASE_URL": postgres.dsn(),
        "TASK_API_OIDC_ISSUER": jwks.issuer,
        "TASK_API_JWKS_URL": jwks.url,
        "TASK_API_HOST": HOST,
        "TASK_API_PORT": str(port),
        "TASK_API_ACCESS_LOG": "false" if args.no_access_log else "true",
        "TASK_API_TOKEN_CACHE_SIZE": str(args.token_cache_size),
    }
    with open(logdir / "task-api.log", "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "task_api"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"{base}/readyz", server)
        user = "bench-user"
        token = tokens.token(user, exp=int(time.time()) + 3600)
        seed(base, {"Authorization": f"Bearer {token}"}, 100)
        scenarios = [
            ("minimal GET /healthz (no auth, no DB)", "GET", "/healthz", "", ""),
            ("list GET /tasks?limit=20 (JWT + DB)", "GET", "/tasks?limit=20", token, ""),
            (
                "create POST /tasks (JWT + DB)",
                "POST",
                "/tasks",
                token,
                json.dumps({"title": "bench", "description": "load", "due_date": "2026-12-31"}),
            ),
        ]
        warm = argparse.Namespace(**{**vars(args), "duration": args.warmup})
        for _name, method, path, tok, body in scenarios:
            run_wrk(wrk, base, warm, method, path, tok, body)
        # Rounds interleave the scenarios, so a change in the machine's load (other
        # processes on the same cores) falls on every scenario alike.
        rounds: dict[str, list[dict]] = {name: [] for name, *_unused in scenarios}
        for _unused in range(args.rounds):
            for name, method, path, tok, body in scenarios:
                server_before, postgres_before = cpu_seconds(server.pid), postgres_cpu_seconds(postgres)
                stats = run_wrk(wrk, base, args, method, path, tok, body)
                stats["server_cpu"] = cpu_seconds(server.pid) - server_before
                stats["postgres_cpu"] = postgres_cpu_seconds(postgres) - postgres_before
                rounds[name].append(stats)
        results = {name: _combine(runs) for name, runs in rounds.items()}
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        jwks.close()
        postgres.stop()

    print(
        f"\nTask API benchmark: wrk {args.threads} thread(s), {args.connections} connections, "
        f"{args.rounds} interleaved round(s) of {args.duration}s per scenario "
        f"(cap {args.max_requests} requests per round), 1 server process, "
        f"{os.cpu_count()} CPUs, app {args.app_dir.resolve()}, access log {'off' if args.no_access_log else 'on'}, "
        f"token cache {args.token_cache_size or 'off (signature checked on every request)'}\n"
    )
    print(f"{'scenario':42} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}")
    for name, stats in results.items():
        print(
            f"{name:42} {stats['rps']:9.0f}{'*' if stats['capped'] else ' '} "
            f"{stats['p50_us'] / 1000:8.2f} {stats['p99_us'] / 1000:8.2f} "
            f"{stats['requests']:9d} {stats['errors']:7d}"
        )
    # CPU per request is what each process spends, whatever else the machine runs: on a
    # shared or busy machine it says more than req/s (the server is one process, one core).
    print(f"\n{'CPU per request (us)':42} {'server':>10} {'postgres':>9}")
    for name, stats in results.items():
        print(f"{name:42} {stats['server_cpu_us']:10.0f} {stats['postgres_cpu_us']:9.0f}")
    base_cpu = next(iter(results.values()))["server_cpu_us"]
    for name, stats in list(results.items())[1:]:
        print(f"{name:42} server CPU ratio (minimal / this) x{base_cpu / max(stats['server_cpu_us'], 1e-9):.2f}")
    if any(stats["capped"] for stats in results.values()):
        print("* stopped by --max-requests before the duration ended: req/s is a lower bound")
    baseline = next(iter(results.values()))
    print("\nratio to the minimal endpoint (throughput: higher is better; p99: lower is better)")
    for name, stats in list(results.items())[1:]:
        per_round = [rps / base_rps for rps, base_rps in zip(stats["rounds_rps"], baseline["rounds_rps"], strict=True)]
        print(
            f"{name:42} throughput x{stats['rps'] / baseline['rps']:.2f}   "
            f"p99 x{stats['p99_us'] / max(baseline['p99_us'], 1):.2f}   "
            f"per round x{' x'.join(f'{ratio:.2f}' for ratio in per_round)}"
        )
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    print(f"\nserver log: {logdir / 'task-api.log'}")
    failed = [name for name, stats in results.items() if stats["errors"]]
    if failed:
        print(f"errors in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
