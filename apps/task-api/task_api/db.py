"""The PostgreSQL connection pool: asyncpg connections, checked out for one statement each.

Why not ``asyncpg.create_pool``: measured under wrk (bench/run_bench.py, py-spy), its
checkout and return cost about as much server CPU as the page query itself on a held
connection (~25-30 us of ~60 per ``GET /tasks``): a ``PoolConnectionProxy`` per
checkout, an ``asyncio.shield`` Task and an ``asyncio.timeout`` per return, an
inactivity timer armed and cancelled per request, a reset hook. This service runs
one statement per checkout and keeps no session state, so the pool is a stack of idle
connections and a queue of waiters; every statement still goes to PostgreSQL.

The rules it keeps, each tested in tests/test_db_pool.py and
tests/test_database_unavailable.py:

- at most ``max_size`` connections, open or opening; ``min_size`` opened at start
  (a failure there fails the start, as asyncpg's pool did);
- a caller that finds no idle connection and no free slot waits its turn (FIFO);
  a connection released while callers wait goes to the first of them;
- a connection is reused only when its statement ended normally or with an error
  PostgreSQL reported (a ``PostgresError``: the protocol is in sync) and it is open
  and not inside a transaction. After anything else (cancellation, timeout, a broken
  socket, a client-side protocol error) it is terminated, and a waiter, if any, opens
  a new one in its slot;
- a connection the server ended while idle (restart, ``pg_terminate_backend``) is
  found closed at checkout and replaced; the statement that meets a server gone
  since raises asyncpg's error, which the app answers 503;
- idle connections beyond ``min_size`` are closed once idle for
  ``max_inactive_lifetime`` seconds (asyncpg's default, 300), checked whenever a
  connection is returned;
- ``command_timeout`` applies to every statement (asyncpg's own, per connection).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import asyncpg

logger = logging.getLogger(__name__)


class Pool:
    def __init__(
        self,
        dsn: str,
        *,
        min_size: int,
        max_size: int,
        command_timeout: float | None = None,
        max_inactive_lifetime: float = 300.0,
    ) -> None:
        if max_size < 1 or not 0 <= min_size <= max_size:
            raise ValueError(f"pool sizes must satisfy 0 <= min_size <= max_size >= 1 (got {min_size}, {max_size})")
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._max_inactive = max_inactive_lifetime
        # Idle connections with the monotonic time they were returned; used LIFO (the warmest first).
        self._idle: deque[tuple[asyncpg.Connection, float]] = deque()
        # Callers waiting for a connection; a result of None means "a slot is free: open one".
        self._waiters: deque[asyncio.Future] = deque()
        self._size = 0  # connections open or being opened
        self._closing = False
        self._closers: set[asyncio.Task] = set()

    @classmethod
    async def create(cls, dsn: str, **kwargs: Any) -> Pool:
        pool = cls(dsn, **kwargs)
        opened = await asyncio.gather(*(pool._connect() for _unused in range(pool._min_size)), return_exceptions=True)
        failed = [result for result in opened if isinstance(result, BaseException)]
        for result in opened:
            if not isinstance(result, BaseException):
                pool._idle.append((result, time.monotonic()))
        if failed:
            await pool.close()
            raise failed[0]
        return pool

    # -- what the app calls: one statement on one connection ---------------------------

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        con = self._take_idle() or await self._acquire_slow()
        try:
            result = await con.fetch(query, *args)
        except BaseException as exc:
            self._release(con, exc)
            raise
        self._release(con, None)
        return result

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        con = self._take_idle() or await self._acquire_slow()
        try:
            result = await con.fetchrow(query, *args)
        except BaseException as exc:
            self._release(con, exc)
            raise
        self._release(con, None)
        return result

    async def fetchval(self, query: str, *args: Any) -> Any:
        con = self._take_idle() or await self._acquire_slow()
        try:
            result = await con.fetchval(query, *args)
        except BaseException as exc:
            self._release(con, exc)
            raise
        self._release(con, None)
        return result

    async def execute(self, query: str, *args: Any) -> str:
        con = self._take_idle() or await self._acquire_slow()
        try:
            result = await con.execute(query, *args)
        except BaseException as exc:
            self._release(con, exc)
            raise
        self._release(con, None)
        return result

    # -- what the metrics read -------------------------------------------------------

    def get_size(self) -> int:
        return self._size

    def get_idle_size(self) -> int:
        return len(self._idle)

    def get_max_size(self) -> int:
        return self._max_size

    # -- checkout and return ---------------------------------------------------------

    def _take_idle(self) -> asyncpg.Connection | None:
        idle = self._idle
        while idle:
            con = idle.pop()[0]
            if not con.is_closed():
                return con
            self._size -= 1  # ended by the server while idle: its slot is free again
        return None

    async def _acquire_slow(self) -> asyncpg.Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self._closing:
                raise asyncpg.InterfaceError("the connection pool is closing")
            con = self._take_idle()
            if con is not None:
                return con
            if self._size < self._max_size:
                return await self._connect()
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                con = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    # Handed a connection (or a slot) just as this caller was cancelled: pass it on.
                    handed = waiter.result()
                    if handed is not None:
                        self._release(handed, None)
                    else:
                        self._wake_one()
                raise
            if con is not None:
                return con
            # A slot was freed for this caller: loop and open a connection in it.

    async def _connect(self) -> asyncpg.Connection:
        self._size += 1
        try:
            return await asyncpg.connect(self._dsn, command_timeout=self._command_timeout)
        except BaseException:
            self._size -= 1
            self._wake_one()  # a waiter may try the slot (and learn the server's answer itself)
            raise

    def _release(self, con: asyncpg.Connection, error: BaseException | None) -> None:
        # Reusable only after a normal end or an error PostgreSQL itself reported (protocol in sync).
        in_sync = (error is None or isinstance(error, asyncpg.PostgresError)) and not con.is_closed()
        if not in_sync or con.is_in_transaction():
            self._size -= 1
            con.terminate()  # state unknown (cancelled, timed out, broken): never reuse it
            self._wake_one()  # its slot is free: a waiter opens a new connection
            return
        if self._closing:
            self._size -= 1
            self._close_later(con)
            return
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(con)
                return
        now = time.monotonic()
        idle = self._idle
        idle.append((con, now))
        # The oldest idle connection is at the left (connections are reused from the right).
        if len(idle) > self._min_size and now - idle[0][1] > self._max_inactive:
            self._size -= 1
            self._close_later(idle.popleft()[0])

    def _wake_one(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _close_later(self, con: asyncpg.Connection) -> None:
        task = asyncio.get_running_loop().create_task(self._close(con))
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    @staticmethod
    async def _close(con: asyncpg.Connection) -> None:
        try:
            await con.close(timeout=5)
        except Exception as exc:
            logger.debug("closing a pooled connection failed", extra={"fields": {"error": repr(exc)}})
            con.terminate()

    async def close(self, timeout: float = 10.0) -> None:
        """Refuse new statements, close idle connections, and wait (bounded) for those in use."""
        self._closing = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(asyncpg.InterfaceError("the connection pool is closing"))
        idle = [entry[0] for entry in self._idle]
        self._idle.clear()
        self._size -= len(idle)
        await asyncio.gather(*(self._close(con) for con in idle))
        # Connections in use are closed as they come back (uvicorn has drained the requests by now).
        deadline = time.monotonic() + timeout
        while self._size > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._size > 0:
            logger.warning("connections still in use at pool close", extra={"fields": {"in_use": self._size}})
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)
