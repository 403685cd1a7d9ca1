"""Request and response bodies.

Unknown fields are rejected (``extra="forbid"``) so a typo such as ``"stauts"``
is a 422 the client sees, not an update that silently did nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator


def _storable(value: str) -> str:
    # PostgreSQL's text type cannot hold U+0000 (it rejects the whole statement:
    # "invalid byte sequence for encoding UTF8: 0x00"), so say so here, as a 422.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_storable)
]
Description = Annotated[str, StringConstraints(max_length=10000), AfterValidator(_storable)]


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    done = "done"


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description = ""
    status: TaskStatus = TaskStatus.todo
    due_date: date | None = None


class TaskUpdate(BaseModel):
    """Partial update: only the fields present change; ``due_date: null`` clears it."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    due_date: date | None = None

    @model_validator(mode="after")
    def _check(self) -> TaskUpdate:
        if not self.model_fields_set:
            raise ValueError("at least one of title, description, status, due_date is required")
        for name in ("title", "description", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class Task(BaseModel):
    id: UUID
    owner: str
    title: str
    description: str
    status: TaskStatus
    due_date: date | None
    created_at: datetime
    updated_at: datetime


class TaskPage(BaseModel):
    items: list[Task]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page, null on the last page")
