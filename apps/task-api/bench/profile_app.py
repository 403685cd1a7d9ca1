"""Where a request's time goes: the app in-process under cProfile, on demand.

Starts Debian's PostgreSQL (unix socket) and a JWKS server on 127.0.0.1 like
run_bench.py, seeds tasks, then calls the ASGI app directly (no HTTP server, no
network: the HTTP parsing is the same for every endpoint and is measured by
run_bench.py) for ``GET /tasks?limit=20`` with a valid token and ``GET /healthz``.
Prints the mean CPU-clock time per request of each (and of ``GET /readyz``, one
``SELECT 1`` in a FastAPI endpoint), of the parts on their own (the cached token
check, the page query through the pool and on one held connection, ``SELECT 1``),
and the functions with the most cumulative time for ``GET /tasks``.

Usage: python3 apps/task-api/bench/profile_app.py [--requests 2000] [--top 40]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

APP_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP_DIR))

import asyncpg  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from task_api.app import create_app  # noqa: E402
from task_api.config import Settings  # noqa: E402
from task_api_dev.services import KID, JwksServer, PostgresServer, TokenFactory, pg_bindir, public_jwk  # noqa: E402


async def call(app, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> int:
    raw_path, _unused, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def lifespan(app):
    """Run the app's startup; return the coroutine-driving queue to shut it down."""
    inbox: asyncio.Queue = asyncio.Queue()
    outbox: asyncio.Queue = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    return inbox, outbox, task


async def main_async(args: argparse.Namespace, settings: Settings, token: str) -> None:
    app = create_app(settings)
    inbox, outbox, task = await lifespan(app)
    auth = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())]
    plain = [(b"host", b"127.0.0.1")]
    body = b'{"title": "profile", "due_date": "2026-12-31"}'
    for _unused in range(100):
        assert await call(app, "POST", "/tasks", [*auth, (b"content-type", b"application/json")], body) == 201
    for _unused in range(200):  # warm up both paths
        assert await call(app, "GET", "/tasks?limit=20", auth) == 200
        assert await call(app, "GET", "/healthz", plain) == 200

    timings = {}
    endpoints = (
        ("GET /healthz", "/healthz", plain),
        # One SELECT 1 through the pool in a FastAPI endpoint: the cost of one awaited round trip there.
        ("GET /readyz", "/readyz", plain),
        ("GET /tasks?limit=20", "/tasks?limit=20", auth),
    )
    for name, path, headers in endpoints:
        start = time.process_time()
        wall = time.perf_counter()
        for _unused in range(args.requests):
            assert await call(app, "GET", path, headers) == 200
        timings[name] = ((time.process_time() - start) / args.requests, (time.perf_counter() - wall) / args.requests)

    # The parts on their own, same loop, same process.
    from task_api import repository
    from task_api.repository import Scope

    verifier = app.state.verifier
    pool = app.state.pool
    parts = {
        "token check (cached)": lambda: verifier.verify(token),
        "repository.list_tasks (asyncpg)": lambda: repository.list_tasks(
            pool, Scope(owner="profile-user"), limit=20, offset=0
        ),
    }
    # The same page query on one connection of its own: what the pool's checkout and return add.
    sql, params = repository._page_query(
        Scope(owner="profile-user"), limit=20, offset=0, status=None, due_before=None, due_after=None
    )
    held = await asyncpg.connect(app.state.settings.database_url)
    parts["the same fetch on one held connection"] = lambda: held.fetch(sql, *params)
    parts["pool.fetchval('SELECT 1')"] = lambda: pool.fetchval("SELECT 1")
    for name, make in parts.items():
        start = time.process_time()
        wall = time.perf_counter()
        for _unused in range(args.requests):
            await make()
        timings[name] = ((time.process_time() - start) / args.requests, (time.perf_counter() - wall) / args.requests)
    await held.close()

    profiler = cProfile.Profile()
    profiler.enable()
    for _unused in range(args.requests):
        await call(app, "GET", "/tasks?limit=20", auth)
    profiler.disable()

    await inbox.put({"type": "lifespan.shutdown"})
    await outbox.get()
    await task

    print(f"\nper request, app only (no HTTP server), {args.requests} requests each:")
    print("  (CPU is this process only: PostgreSQL's own work shows in wall time)")
    for name, (cpu, wall) in timings.items():
        print(f"  {name:40} CPU {cpu * 1e6:8.0f} us   wall {wall * 1e6:8.0f} us")
    cpu_ratio = timings["GET /healthz"][0] / timings["GET /tasks?limit=20"][0]
    print(f"  CPU ratio healthz/tasks: {cpu_ratio:.2f}")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(args.top)
    print(out.getvalue())
    if args.output:
        stats.dump_stats(args.output)
        print(f"profile written to {args.output} (python -m pstats {args.output})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--output", help="also write the cProfile data here")
    parser.add_argument("--token-cache-size", type=int, default=4096)
    args = parser.parse_args()

    bindir = pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found: apt-get install postgresql")
    postgres = PostgresServer(bindir)
    postgres.start_or_explain()
    jwks = JwksServer()
    try:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwks.keys = [public_jwk(key, KID)]
        token = TokenFactory(key, jwks.issuer).token("profile-user", exp=int(time.time()) + 3600)
        settings = Settings(
            database_url=postgres.dsn(),
            oidc_issuer=jwks.issuer,
            jwks_url=jwks.url,
            access_log=False,
            token_cache_size=args.token_cache_size,
        )
        # uvloop, as the server runs (python -m task_api); asyncio only when it is missing.
        try:
            import uvloop
        except ImportError:
            asyncio.run(main_async(args, settings, token))
        else:
            uvloop.run(main_async(args, settings, token))
    finally:
        jwks.close()
        postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
