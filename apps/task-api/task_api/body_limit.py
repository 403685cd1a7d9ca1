"""Request bodies over the limit get a JSON 413, after authentication.

Mounted inside :class:`~task_api.guard.AuthGuardMiddleware`, so an anonymous
caller gets its 401 before anything here looks at the body. A declared
``Content-Length`` over the limit is refused without reading a byte; a body
without one (chunked) is counted as it arrives and refused as soon as it
passes the limit: the route sees an ``HTTPException(413)`` while reading it,
which FastAPI re-raises and answers as JSON like every other error.

(FastAPI's own ``max_body_size`` wraps the whole app, outside the user
middleware: it answered plain text, and turned the guard's 401 into its 413.)
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.detail = f"request body exceeds {max_body_bytes} bytes"
        self.body = b'{"detail":"' + self.detail.encode() + b'"}'

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
                break
        if declared is not None:
            try:
                too_large = int(declared) > self.max_body_bytes
            except ValueError:
                too_large = False  # the HTTP server refuses a malformed Content-Length itself
            if too_large:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(self.body)).encode()),
                            (b"connection", b"close"),  # the unread body must not be taken as the next request
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": self.body})
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(status_code=413, detail=self.detail)
            return message

        await self.app(scope, counting_receive, send)
