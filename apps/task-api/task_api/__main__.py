"""Entry point: ``python -m task_api [serve|migrate]``.

``serve`` runs uvicorn with uvloop and httptools; on SIGTERM uvicorn stops
accepting connections, lets in-flight requests finish (up to
TASK_API_SHUTDOWN_TIMEOUT seconds) and then runs the lifespan shutdown, which
closes the pool. ``migrate`` applies migrations and exits, for a Job or an
operator who prefers not to migrate on startup.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from task_api.config import ConfigError, Settings
from task_api.logs import configure_logging

logger = logging.getLogger("task_api")


def _serve(settings: Settings) -> None:
    import uvicorn

    from task_api.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,  # our middleware writes the access log as JSON
        server_header=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()


def _migrate(settings: Settings) -> None:
    import asyncpg

    from task_api.migrations import migrate

    async def run() -> None:
        conn = await asyncpg.connect(settings.database_url)
        try:
            applied = await migrate(conn)
        finally:
            await conn.close()
        logger.info("migrations complete", extra={"fields": {"applied": applied}})

    asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "serve"
    if command not in {"serve", "migrate"}:
        print(f"usage: python -m task_api [serve|migrate] (got {command!r})", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        configure_logging()
        logger.error(str(exc))
        return 2
    configure_logging(settings.log_level, flush_interval=settings.log_flush_interval)
    if command == "migrate":
        _migrate(settings)
    else:
        _serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
