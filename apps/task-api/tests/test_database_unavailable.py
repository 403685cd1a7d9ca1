"""PostgreSQL that cannot take a connection right now is a 503 with Retry-After, never a 500.

Against a real PostgreSQL, in the states a rolling restart or a busy server
really goes through (SQLSTATEs from PostgreSQL's errcodes, classes as asyncpg
0.32 names them in asyncpg/exceptions/__init__.py):

- shutting down / starting up: 57P03 ``CannotConnectNowError``;
- the administrator (or a fast shutdown) ended the session: 57P01
  ``AdminShutdownError``, then ``ConnectionDoesNotExistError`` or a refused
  socket while the server is away;
- too many connections: 53300 ``TooManyConnectionsError``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from fastapi.testclient import TestClient
from task_api.app import create_app
from task_api_dev.services import PostgresServer, ServiceUnavailable, pg_bindir


def _missing(reason: str) -> None:
    if os.environ.get("GAUNTLET_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (GAUNTLET_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


def assert_503(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": "database unavailable"}
    assert int(response.headers["retry-after"]) >= 1


class BackgroundConnection:
    """An asyncpg connection held open on its own event loop thread (another client of the server)."""

    def __init__(self, dsn: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.conn = self._call(asyncpg.connect(dsn))

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def fetchval(self, sql: str, *args):
        return self._call(self.conn.fetchval(sql, *args))

    def close(self) -> None:
        try:
            if not self.conn.is_closed():
                self._call(self.conn.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            self.loop.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test alone: it is stopped and restarted under the app."""
    bindir = pg_bindir()
    if bindir is None:
        _missing("PostgreSQL server binaries not found (apt-get install postgresql)")
    try:
        server = PostgresServer(bindir)
    except ServiceUnavailable as exc:
        _missing(str(exc))
    server.start_or_explain()
    try:
        yield server
    finally:
        server.stop()


def _migrated_app(make_settings: Callable, dsn: str):
    with TestClient(create_app(make_settings(database_url=dsn))):
        pass  # migrations applied by the lifespan
    # No connection at startup: the first request must open one, whatever the server says.
    return create_app(make_settings(database_url=dsn, db_pool_min=0, migrate_on_startup=False))


def test_shutting_down_is_503_with_retry_after(own_postgres, make_settings, tokens, user):
    """Smart shutdown waits for a session to end and refuses new ones: 57P03 CannotConnectNowError."""
    app = _migrated_app(make_settings, own_postgres.dsn())
    session = BackgroundConnection(own_postgres.dsn())
    try:
        own_postgres.stop_server("smart", wait=False)
        deadline = time.monotonic() + 10
        while True:  # until PostgreSQL really refuses (pg_ctl -W returns at once)
            try:
                asyncio.run(_connect_once(own_postgres.dsn()))
            except asyncpg.CannotConnectNowError:
                break
            assert time.monotonic() < deadline, "PostgreSQL did not start shutting down"
            time.sleep(0.05)
        with TestClient(app, raise_server_exceptions=False) as client:
            headers = tokens.headers(user)
            assert_503(client.get("/tasks", headers=headers))
            assert_503(client.post("/tasks", json={"title": "during shutdown"}, headers=headers))
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200
            own_postgres.stop_server("fast")  # ends the remaining session
            assert_503(client.get("/tasks", headers=headers))  # the socket is gone: refused
            own_postgres.start_server()
            response = client.get("/tasks", headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["items"] == []  # the write during shutdown did not happen
    finally:
        session.close()


async def _connect_once(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.close()


def test_restart_under_requests_is_never_a_500(own_postgres, make_settings, tokens, user):
    """A fast restart ends the pooled sessions (57P01) and refuses connections while away and starting up."""
    app = create_app(make_settings(database_url=own_postgres.dsn(), db_pool_min=2))
    headers = tokens.headers(user)
    statuses: list[int] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        created = client.post("/tasks", json={"title": "before the restart"}, headers=headers)
        assert created.status_code == 201
        restarter = threading.Thread(
            target=lambda: (own_postgres.stop_server("fast"), time.sleep(0.5), own_postgres.start_server())
        )
        restarter.start()
        deadline = time.monotonic() + 30
        while restarter.is_alive() and time.monotonic() < deadline:
            response = client.get("/tasks", headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert_503(response)
            else:
                assert response.status_code == 200, response.text
        restarter.join(timeout=30)
        # The pool reconnects by itself: no restart of the app needed.
        for _unused in range(20):
            response = client.get("/tasks", headers=headers)
            if response.status_code == 200:
                break
            assert_503(response)
            time.sleep(0.1)
        assert response.status_code == 200
        assert [t["id"] for t in response.json()["items"]] == [created.json()["id"]]
    assert 503 in statuses, f"the restart was not observed by any request: {statuses}"


def test_terminated_pool_connections_are_503_or_reconnected(own_postgres, make_settings, tokens, user):
    """pg_terminate_backend (57P01, as for an admin shutdown) on every pooled session: no 500."""
    app = create_app(make_settings(database_url=own_postgres.dsn(), db_pool_min=3, db_pool_max=3))
    headers = tokens.headers(user)
    admin = BackgroundConnection(own_postgres.dsn())
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/tasks", headers=headers).status_code == 200
            killed = admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            assert killed >= 1
            statuses = []
            for _unused in range(30):  # each dead pooled connection fails at most once, then reconnects
                response = client.get("/tasks", headers=headers)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    break
                assert_503(response)
                time.sleep(0.05)
            assert statuses[-1] == 200, statuses
            for _unused in range(5):  # and the pool is healthy again
                assert client.get("/tasks", headers=headers).status_code == 200
    finally:
        admin.close()


@pytest.fixture
def limited_role(database_url: str) -> Iterator[str]:
    """A role allowed one connection (PostgreSQL's CONNECTION LIMIT; superusers are exempt), as a DSN."""
    name = f"limited_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f"CREATE ROLE {name} LOGIN CONNECTION LIMIT 1; GRANT SELECT ON tasks TO {name}"))
    except asyncpg.InsufficientPrivilegeError as exc:
        _missing(f"the test database user cannot create roles: {exc}")
    parts = urlsplit(database_url)
    netloc = name + parts.netloc[parts.netloc.index("@") :] if "@" in parts.netloc else f"{name}@{parts.netloc}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        asyncio.run(run(f"REVOKE ALL ON tasks FROM {name}; DROP ROLE {name}"))


def test_too_many_connections_is_503_with_retry_after(limited_role, make_settings, tokens, user, client):
    """53300 TooManyConnectionsError: the role's only connection is taken by another client."""
    del client  # the module's app has migrated the database for the role to read
    app = create_app(make_settings(database_url=limited_role, db_pool_min=0, migrate_on_startup=False))
    other = BackgroundConnection(limited_role)
    try:
        with TestClient(app, raise_server_exceptions=False) as app_client:
            assert_503(app_client.get("/tasks", headers=tokens.headers(user)))
            other.close()
            other = None
            # The other backend leaves PostgreSQL's process array a moment after its client closed.
            deadline = time.monotonic() + 10
            while (response := app_client.get("/tasks", headers=tokens.headers(user))).status_code != 200:
                assert_503(response)
                assert time.monotonic() < deadline, "the slot never came back"
                time.sleep(0.05)
    finally:
        if other is not None:
            other.close()
