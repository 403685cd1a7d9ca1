"""Per-request context: request id and the JSON access log."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from task_api.logs import request_id_var

logger = logging.getLogger("task_api.access")

# Echo a caller's id only when it is harmless in logs and headers.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Probes and scrapes every few seconds would drown the useful lines.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_SOURCE = __file__


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if _SAFE_REQUEST_ID.match(candidate):
                    request_id = candidate
        request_id = request_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if self.access_log:
                level = logging.DEBUG if scope["path"] in _QUIET_PATHS else logging.INFO
                if logger.isEnabledFor(level):
                    fields = {
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                    }
                    # What Logger.log does, minus findCaller (a stack walk per request for a
                    # file and line the JSON lines never carry): a record to the handlers.
                    logger.handle(
                        logger.makeRecord(logger.name, level, _SOURCE, 0, "request", (), None, extra={"fields": fields})
                    )
            request_id_var.reset(token)
