"""Schema migrations: numbered SQL files applied once, in order.

A dedicated tool (Alembic) would pull SQLAlchemy and a sync driver into an image
that uses neither. The rules here are the ones that matter: files named
``NNNN_description.sql`` in ``task_api/schema/``, each applied in its own transaction
and recorded in ``schema_migrations``, under a PostgreSQL advisory lock so that
replicas starting together never race.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

logger = logging.getLogger(__name__)

# Arbitrary but fixed: every replica must take the same advisory lock.
ADVISORY_LOCK_ID = 0x7A5C_A91


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    pattern = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
    found: list[Migration] = []
    for entry in resources.files("task_api").joinpath("schema").iterdir():
        match = pattern.match(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration versions: {versions}")
    return found


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply pending migrations; return the versions applied now."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_ID)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for migration in load_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            logger.info("migration applied", extra={"fields": {"version": migration.version, "name": migration.name}})
            applied_now.append(migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)
    return applied_now
