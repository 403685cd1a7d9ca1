"""SQL for tasks. Ownership is enforced here, in the WHERE clause, so no handler can forget it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import asyncpg

from task_api.db import Pool

COLUMNS = "id, owner, title, description, status, due_date, created_at, updated_at"
# The list's columns, the same names in the same order, in the forms its JSON needs: the id as
# text and the timestamps as the text Task's pydantic serialiser writes (UTC, "Z", six digits of
# microseconds, none when they are zero). Measured (bench/run_bench.py, py-spy, a timed fetch):
# asyncpg builds each timestamp as a datetime from a timedelta (42 per page) and orjson handed
# each asyncpg UUID to a Python default function; that decoding cost ~15 us of the API's CPU
# per page, to_char ~15 us of PostgreSQL's. to_char and AT TIME ZONE 'UTC' do not depend on
# the session's DateStyle or TimeZone.
_LIST_TIMESTAMP = (
    "replace(to_char({0} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z') AS {0}"
)
LIST_COLUMNS = (
    "id::text AS id, owner, title, description, status, due_date, "
    f"{_LIST_TIMESTAMP.format('created_at')}, {_LIST_TIMESTAMP.format('updated_at')}"
)
# Columns a client may change; the names come from this set, never from input.
UPDATABLE = ("title", "description", "status", "due_date")


@dataclass(frozen=True)
class Scope:
    """Whose tasks a caller may touch: one owner, or everyone (admin)."""

    owner: str
    all_owners: bool = False


def _scope_clause(scope: Scope, params: list[Any]) -> str:
    if scope.all_owners:
        return "TRUE"
    params.append(scope.owner)
    return f"owner = ${len(params)}"


async def create_task(pool: Pool, owner: str, fields: dict[str, Any]) -> asyncpg.Record:
    return await pool.fetchrow(
        f"INSERT INTO tasks (owner, title, description, status, due_date) VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}",  # noqa: S608 - column list is a constant
        owner,
        fields["title"],
        fields["description"],
        fields["status"],
        fields["due_date"],
    )


async def get_task(pool: Pool, scope: Scope, task_id: UUID) -> asyncpg.Record | None:
    params: list[Any] = [task_id]
    where = _scope_clause(scope, params)
    return await pool.fetchrow(f"SELECT {COLUMNS} FROM tasks WHERE id = $1 AND {where}", *params)  # noqa: S608


def _page_query(
    scope: Scope,
    *,
    limit: int,
    offset: int,
    status: str | None,
    due_before: date | None,
    due_after: date | None,
) -> tuple[str, list[Any]]:
    """The page's SELECT (limit+1 rows, so the caller knows whether another page follows) and its parameters."""
    params: list[Any] = []
    conditions = [_scope_clause(scope, params)]
    if status is not None:
        params.append(status)
        conditions.append(f"status = ${len(params)}")
    if due_before is not None:
        params.append(due_before)
        conditions.append(f"due_date <= ${len(params)}")
    if due_after is not None:
        params.append(due_after)
        conditions.append(f"due_date >= ${len(params)}")
    params.extend((limit + 1, offset))
    # The page is chosen first and formatted after: PostgreSQL evaluates a select list below
    # a Sort (and for every row an OFFSET skips), so LIST_COLUMNS in the inner query would
    # format every matching row, not the page's (EXPLAIN VERBOSE of a 100-task user: 100).
    sql = (
        f"SELECT {LIST_COLUMNS} FROM ("  # noqa: S608 - columns and conditions are constants
        f"SELECT {COLUMNS} FROM tasks WHERE {' AND '.join(conditions)} "
        f"ORDER BY created_at DESC, id DESC LIMIT ${len(params) - 1} OFFSET ${len(params)}"
        ") AS page ORDER BY page.created_at DESC, page.id DESC"
    )
    return sql, params


async def list_tasks(
    pool: Pool,
    scope: Scope,
    *,
    limit: int,
    offset: int,
    status: str | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
) -> tuple[list[asyncpg.Record], bool]:
    """Return one page and whether another page follows (fetches limit+1 instead of a COUNT).

    The rows have :data:`LIST_COLUMNS`: ``id`` and the timestamps as the JSON text of the Task model.
    """
    sql, params = _page_query(
        scope, limit=limit, offset=offset, status=status, due_before=due_before, due_after=due_after
    )
    rows = await pool.fetch(sql, *params)
    return rows[:limit], len(rows) > limit


async def update_task(pool: Pool, scope: Scope, task_id: UUID, changes: dict[str, Any]) -> asyncpg.Record | None:
    params: list[Any] = [task_id]
    assignments = []
    for column in UPDATABLE:
        if column in changes:
            params.append(changes[column])
            assignments.append(f"{column} = ${len(params)}")
    where = _scope_clause(scope, params)
    sql = f"UPDATE tasks SET {', '.join(assignments)}, updated_at = now() WHERE id = $1 AND {where} RETURNING {COLUMNS}"  # noqa: S608
    return await pool.fetchrow(sql, *params)


async def delete_task(pool: Pool, scope: Scope, task_id: UUID) -> bool:
    params: list[Any] = [task_id]
    where = _scope_clause(scope, params)
    result = await pool.execute(f"DELETE FROM tasks WHERE id = $1 AND {where}", *params)  # noqa: S608
    return result == "DELETE 1"
