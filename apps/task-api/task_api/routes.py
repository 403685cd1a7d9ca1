"""Task endpoints. The caller is already authenticated by the guard middleware."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from task_api import repository
from task_api.auth import Principal
from task_api.db import Pool
from task_api.models import Task, TaskCreate, TaskPage, TaskStatus, TaskUpdate
from task_api.repository import Scope

router = APIRouter(prefix="/tasks", tags=["tasks"])

MAX_PAGE_SIZE = 100
# Deep OFFSET pages cost a scan each; beyond this, clients should narrow the filters.
MAX_OFFSET = 10_000


# Dependencies are async on purpose: FastAPI runs plain `def` dependencies in a
# worker thread, a context switch per request for a dictionary lookup.
def _principal(request: Request) -> Principal:
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


async def principal(request: Request) -> Principal:
    return _principal(request)


async def scope_of(user: Annotated[Principal, Depends(principal)]) -> Scope:
    return Scope(owner=user.subject, all_owners=user.is_admin)


async def pool(request: Request) -> Pool:
    return request.app.state.pool


Db = Annotated[Pool, Depends(pool)]


NOT_FOUND = HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="task not found")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Task)
async def create_task(body: TaskCreate, user: Annotated[Principal, Depends(principal)], db: Db) -> dict:
    row = await repository.create_task(db, user.subject, body.model_dump())
    return dict(row)


class ListQuery(BaseModel):
    """The list's query parameters (unknown ones are ignored, as FastAPI does)."""

    limit: int = Field(20, ge=1, le=MAX_PAGE_SIZE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    status: TaskStatus | None = None
    due_before: date | None = Field(None, description="due on or before this date")
    due_after: date | None = Field(None, description="due on or after this date")


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    """OpenAPI ``parameters`` for a query model (the route parses its query itself)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return [
        {"name": name, "in": "query", "required": False, "schema": field}
        | ({"description": field["description"]} if "description" in field else {})
        for name, field in schema["properties"].items()
    ]


def parse_list_query(query_params: Mapping[str, str]) -> ListQuery:
    """The list's query, validated; RequestValidationError (422) when it is invalid."""
    try:
        return ListQuery.model_validate(query_params)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", *error["loc"])} for error in exc.errors(include_url=False)]
        ) from None


async def list_page(pool: Pool, user: Principal, query: ListQuery) -> bytes:
    """The list's JSON body for this caller and (validated) query.

    Shared by the route below and by :class:`task_api.fastpath.ListFastPath`, which serves
    ``GET /tasks`` without FastAPI's routing and request machinery (see that module).
    """
    rows, more = await repository.list_tasks(
        pool,
        Scope(owner=user.subject, all_owners=user.is_admin),
        limit=query.limit,
        offset=query.offset,
        status=query.status.value if query.status is not None else None,
        due_before=query.due_before,
        due_after=query.due_after,
    )
    page = {
        # The keys of repository.LIST_COLUMNS, in their order (a literal: the cheapest dict to build).
        "items": [
            {
                "id": id_,
                "owner": owner,
                "title": title,
                "description": description,
                "status": status,
                "due_date": due_date,
                "created_at": created_at,
                "updated_at": updated_at,
            }
            for id_, owner, title, description, status, due_date, created_at, updated_at in rows
        ],
        "limit": query.limit,
        "offset": query.offset,
        "next_offset": query.offset + query.limit if more else None,
    }
    # orjson writes what TaskPage's pydantic serialiser writes (UUID, ISO date, UTC as "Z",
    # microseconds only when not zero, the same string escapes), byte for byte:
    # tests/test_tasks.py::test_list_body_is_what_the_task_page_model_gives.
    return orjson.dumps(page)


# The hot path (see bench/profile_app.py): FastAPI's per-parameter solving and the
# response_model validation and serialisation cost more than the query, so this route
# validates its query with one model call and serialises the rows once, with orjson.
# Requests that reach it normally take ListFastPath instead; this route stays the
# documented one (OpenAPI) and the fallback.
@router.get("", response_model=TaskPage, openapi_extra={"parameters": _query_parameters(ListQuery)})
async def list_tasks(request: Request) -> Response:
    user = _principal(request)
    body = await list_page(request.app.state.pool, user, parse_list_query(dict(request.query_params)))
    return Response(body, media_type="application/json")


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
