"""Application factory: wiring, lifespan (pool, migrations, JWKS) and error bodies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from task_api import __version__
from task_api.auth import JwksCache, TokenVerifier
from task_api.body_limit import BodyLimitMiddleware
from task_api.config import Settings
from task_api.db import Pool
from task_api.fastpath import ListFastPath
from task_api.guard import AuthGuardMiddleware
from task_api.health import router as health_router
from task_api.metrics import Metrics, MetricsMiddleware
from task_api.middleware import RequestContextMiddleware
from task_api.migrations import migrate
from task_api.routes import router as tasks_router

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


# The database cannot serve this request now, but will again: 503 + Retry-After, never 500.
# Classes and SQLSTATEs as asyncpg 0.32 defines them (asyncpg/exceptions/__init__.py).
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, including ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
    asyncpg.AdminShutdownError,  # 57P01: fast shutdown or pg_terminate_backend ended the session
    asyncpg.CrashShutdownError,  # 57P02: another backend crashed, the server restarts
    asyncpg.TooManyConnectionsError,  # 53300: max_connections or the role's CONNECTION LIMIT
    # asyncpg's protocol, when the server ended an idle pooled session (57P01) just before
    # the next query: "cannot switch to state 12; another operation (2) is in progress".
    asyncpg.InternalClientError,
    # The socket itself: refused, reset, or (unix socket) absent while the server restarts.
    # The request path does no other I/O (JWKS errors are httpx errors, handled in auth).
    OSError,
    TimeoutError,  # connect or command timeout
)
RETRY_AFTER_SECONDS = 2


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable", extra={"fields": {"error": repr(exc)}})
    return JSONResponse(
        {"detail": "database unavailable"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        if settings.migrate_on_startup:
            # A dedicated connection: the advisory lock dies with it, whatever happens.
            conn = await asyncpg.connect(settings.database_url, timeout=settings.db_command_timeout)
            try:
                await migrate(conn)
            finally:
                await conn.close()
        state.pool = await Pool.create(
            settings.database_url,
            min_size=settings.db_pool_min,
            max_size=settings.db_pool_max,
            command_timeout=settings.db_command_timeout,
        )
        refresher = None
        try:
            # A Keycloak outage at startup is not fatal: the first token with a kid
            # triggers a (rate-limited) refresh, and the periodic task keeps trying.
            await state.jwks.refresh()
            refresher = asyncio.create_task(state.jwks.run_periodic_refresh(settings.jwks_refresh_interval))
            # What tokens must match, stated once: a mismatch here explains every 401.
            startup = {
                "version": __version__,
                "issuer": settings.oidc_issuer,
                "audience": settings.oidc_audience,
                "authorized_parties": list(settings.oidc_authorized_parties),
                "jwks_url": settings.jwks_url,
                "admin_role": settings.admin_role,
            }
            logger.info("task api started", extra={"fields": startup})
            yield
        finally:
            # uvicorn has stopped accepting and drained in-flight requests by now.
            state.shutting_down = True
            if refresher is not None:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
            await state.jwks.aclose()
            await state.pool.close()
            logger.info("task api stopped")

    app = FastAPI(
        title="Task API",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.pool = None
    app.state.shutting_down = False
    app.state.jwks = JwksCache(
        settings.jwks_url,
        min_refresh_interval=settings.jwks_min_refresh_interval,
        timeout=settings.jwks_timeout,
        ca_file=settings.jwks_ca_file,
    )
    app.state.verifier = TokenVerifier(
        app.state.jwks,
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        authorized_parties=settings.oidc_authorized_parties,
        leeway=settings.jwt_leeway,
        max_token_bytes=settings.max_token_bytes,
        admin_role=settings.admin_role,
        cache_size=settings.token_cache_size,
    )
    metrics.observe_pool(lambda: app.state.pool)

    app.include_router(health_router)
    app.include_router(tasks_router)

    @app.exception_handler(RequestValidationError)
    async def validation_failed(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Say what is wrong and where; do not echo the input back (it may be huge or hostile).
        errors = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
            for error in exc.errors()
        ]
        return JSONResponse({"detail": "request validation failed", "errors": errors}, status_code=422)

    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, database_unavailable)

    # Added innermost first: metrics see every response, including 401/413 from the inner layers.
    # Larger bodies (chunked or not) get 413 before any parsing, but only after the 401.
    # GET /tasks, authenticated, is answered by the list route's own function without
    # FastAPI's routing (task_api/fastpath.py: measured, it costs more than the query).
    list_route = next(r for r in tasks_router.routes if r.path == "/tasks" and r.methods == {"GET"})
    app.add_middleware(
        ListFastPath,
        path="/tasks",
        route=list_route,
        pool_getter=lambda: app.state.pool,
        exception_handlers=app.exception_handlers,
    )
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=MAX_BODY_BYTES)
    app.add_middleware(AuthGuardMiddleware, verifier_getter=lambda: app.state.verifier)
    app.add_middleware(RequestContextMiddleware, access_log=settings.access_log)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=[*health_router.routes, *tasks_router.routes])
    return app
