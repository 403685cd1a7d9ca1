"""Liveness, readiness and the Prometheus scrape endpoint (no auth: the cluster calls them)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

logger = logging.getLogger(__name__)

router = APIRouter()

READY_TIMEOUT_SECONDS = 2.0


@router.get("/healthz", include_in_schema=False)
async def healthz() -> Response:
    # Liveness only says the event loop answers; a database outage must not restart pods.
    return Response(b'{"status":"ok"}', media_type="application/json")


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> Response:
    state = request.app.state
    if state.shutting_down:
        return JSONResponse({"status": "shutting down"}, status_code=503)
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await state.pool.fetchval("SELECT 1")
    except Exception as exc:  # any failure means "do not send traffic here"
        logger.warning("readiness check failed", extra={"fields": {"error": repr(exc)}})
        return JSONResponse({"status": "database unavailable"}, status_code=503)
    return JSONResponse({"status": "ready", "jwks_loaded": state.jwks.loaded})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
