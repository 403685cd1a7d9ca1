"""task_api.db.Pool against a real PostgreSQL: limits, waiting, reuse and what is never reused."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from task_api.db import Pool


def run(coro):
    return asyncio.run(coro)


async def _backend_pids(pool: Pool, count: int) -> set[int]:
    """The backends that serve `count` concurrent statements."""
    rows = await asyncio.gather(
        *(pool.fetchval("SELECT pg_backend_pid() FROM pg_sleep(0.05)") for _unused in range(count))
    )
    return set(rows)


def test_min_size_is_opened_at_start_and_max_size_is_never_exceeded(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=2, max_size=3)
        try:
            assert (pool.get_size(), pool.get_idle_size(), pool.get_max_size()) == (2, 2, 3)
            # Ten concurrent statements on three connections: they wait their turn, none fails.
            pids = await _backend_pids(pool, 10)
            assert len(pids) == 3
            assert pool.get_size() == 3
            assert pool.get_idle_size() == 3
        finally:
            await pool.close()
        assert pool.get_size() == 0

    run(scenario())


def test_waiters_are_served_in_arrival_order(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=1, max_size=1)
        order: list[int] = []

        async def one(i: int) -> None:
            await pool.fetchval("SELECT pg_sleep(0.01)")
            order.append(i)

        try:
            await asyncio.gather(*(one(i) for i in range(6)))
        finally:
            await pool.close()
        assert order == list(range(6))

    run(scenario())


def test_a_connection_is_reused_after_an_error_postgresql_reported(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=1, max_size=1)
        try:
            pid = await pool.fetchval("SELECT pg_backend_pid()")
            with pytest.raises(asyncpg.DivisionByZeroError):
                await pool.fetchval("SELECT 1 / 0")
            assert await pool.fetchval("SELECT pg_backend_pid()") == pid
        finally:
            await pool.close()

    run(scenario())


def test_a_cancelled_statement_s_connection_is_never_reused(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=1, max_size=1)
        try:
            pid = await pool.fetchval("SELECT pg_backend_pid()")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await pool.fetchval("SELECT pg_sleep(5)")
            assert pool.get_size() == 0  # terminated, its slot free
            assert await pool.fetchval("SELECT pg_backend_pid()") != pid
            assert pool.get_size() == 1
        finally:
            await pool.close()

    run(scenario())


def test_a_command_timeout_terminates_the_connection_and_frees_the_slot(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=1, max_size=1, command_timeout=0.05)
        try:
            slow = asyncio.ensure_future(pool.fetchval("SELECT pg_sleep(5)"))
            await asyncio.sleep(0.01)
            queued = asyncio.ensure_future(pool.fetchval("SELECT 42"))  # waits for the only slot
            with pytest.raises(TimeoutError):
                await slow
            assert await queued == 42  # the waiter opened a new connection in the freed slot
            assert pool.get_size() == 1
        finally:
            await pool.close()

    run(scenario())


def test_a_connection_the_server_ended_while_idle_is_replaced(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=1, max_size=1)
        admin = await asyncpg.connect(database_url)
        try:
            pid = await pool.fetchval("SELECT pg_backend_pid()")
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            for _unused in range(100):  # the loop sees the socket close
                if pool._idle and pool._idle[-1][0].is_closed():
                    break
                await asyncio.sleep(0.01)
            assert await pool.fetchval("SELECT pg_backend_pid()") != pid
            assert pool.get_size() == 1
        finally:
            await admin.close()
            await pool.close()

    run(scenario())


def test_a_failed_connect_frees_its_slot_and_reports_the_server_s_error(database_url):
    async def scenario():
        pool = await Pool.create("postgresql://nobody@127.0.0.1:9/none", min_size=0, max_size=1)
        try:
            for _unused in range(3):  # every attempt gets its own error, the slot is never leaked
                with pytest.raises(OSError):
                    await pool.fetchval("SELECT 1")
                assert pool.get_size() == 0
        finally:
            await pool.close()

    run(scenario())


def test_a_failure_at_start_fails_the_start():
    with pytest.raises(OSError):
        run(Pool.create("postgresql://nobody@127.0.0.1:9/none", min_size=1, max_size=1))


def test_idle_connections_beyond_min_size_are_closed_after_the_inactive_lifetime(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=1, max_size=3, max_inactive_lifetime=0.2)
        try:
            assert len(await _backend_pids(pool, 3)) == 3
            assert pool.get_size() == 3
            await asyncio.sleep(0.3)
            await pool.fetchval("SELECT 1")  # returning one checks the idle ones
            assert pool.get_size() == 2
            await pool.fetchval("SELECT 1")
            assert pool.get_size() == 1  # never below min_size
            await pool.fetchval("SELECT 1")
            assert pool.get_size() == 1
        finally:
            await pool.close()

    run(scenario())


def test_close_refuses_new_statements_and_closes_returned_connections(database_url):
    async def scenario():
        pool = await Pool.create(database_url, min_size=1, max_size=1)
        busy = asyncio.ensure_future(pool.fetchval("SELECT 7 FROM pg_sleep(0.1)"))
        await asyncio.sleep(0.02)
        await pool.close()  # waits for the statement in progress, which finishes
        assert busy.done()
        assert busy.result() == 7
        with pytest.raises(asyncpg.InterfaceError):
            await pool.fetchval("SELECT 1")
        assert pool.get_size() == 0

    run(scenario())


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="min_size"):
        Pool("postgresql://x/y", min_size=3, max_size=2)
