"""Task endpoints. The caller is already authenticated by the guard middleware."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from task_api import repository
from task_api.auth import Principal
from task_api.models import Task, TaskCreate, TaskPage, TaskStatus, TaskUpdate
from task_api.repository import Scope

router = APIRouter(prefix="/tasks", tags=["tasks"])

MAX_PAGE_SIZE = 100
# Deep OFFSET pages cost a scan each; beyond this, clients should narrow the filters.
MAX_OFFSET = 10_000


# Dependencies are async on purpose: FastAPI runs plain `def` dependencies in a
# worker thread, a context switch per request for a dictionary lookup.
async def principal(request: Request) -> Principal:
    # The guard middleware sets it for every /tasks path; refusing here too means a
    # route added outside that prefix can never run unauthenticated (or crash).
    user = getattr(request.state, "principal", None)
    if user is None:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="missing or invalid bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="task-api"'},
        )
    return user


async def scope_of(user: Annotated[Principal, Depends(principal)]) -> Scope:
    return Scope(owner=user.subject, all_owners=user.is_admin)


async def pool(request: Request) -> asyncpg.Pool:
    return request.app.state.pool


Db = Annotated[asyncpg.Pool, Depends(pool)]


NOT_FOUND = HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="task not found")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Task)
async def create_task(body: TaskCreate, user: Annotated[Principal, Depends(principal)], db: Db) -> dict:
    row = await repository.create_task(db, user.subject, body.model_dump())
    return dict(row)


@router.get("", response_model=TaskPage)
async def list_tasks(
    scope: Annotated[Scope, Depends(scope_of)],
    db: Db,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    due_before: Annotated[date | None, Query(description="due on or before this date")] = None,
    due_after: Annotated[date | None, Query(description="due on or after this date")] = None,
) -> dict:
    rows, more = await repository.list_tasks(
        db,
        scope,
        limit=limit,
        offset=offset,
        status=status_.value if status_ is not None else None,
        due_before=due_before,
        due_after=due_after,
    )
    return {
        "items": [dict(row) for row in rows],
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if more else None,
    }


@router.get("/{task_id}", response_model=Task)
async def get_task(task_id: UUID, scope: Annotated[Scope, Depends(scope_of)], db: Db) -> dict:
    row = await repository.get_task(db, scope, task_id)
    if row is None:
        raise NOT_FOUND
    return dict(row)


@router.patch("/{task_id}", response_model=Task)
async def update_task(task_id: UUID, body: TaskUpdate, scope: Annotated[Scope, Depends(scope_of)], db: Db) -> dict:
    changes = {k: (v.value if isinstance(v, TaskStatus) else v) for k, v in body.changes().items()}
    row = await repository.update_task(db, scope, task_id, changes)
    if row is None:
        raise NOT_FOUND
    return dict(row)


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_task(task_id: UUID, scope: Annotated[Scope, Depends(scope_of)], db: Db) -> Response:
    if not await repository.delete_task(db, scope, task_id):
        raise NOT_FOUND
    return Response(status_code=status.HTTP_204_NO_CONTENT)
