"""Authenticate /tasks requests before routing.

Running as ASGI middleware (not a FastAPI dependency) means an anonymous caller
gets 401 before its body is read or parsed: a malformed body from a stranger is
a 401, not a 422 that tells it what the API expects, and costs us nothing.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from task_api.auth import AuthError, TokenVerifier

logger = logging.getLogger(__name__)

UNAUTHORIZED_BODY = b'{"detail":"missing or invalid bearer token"}'


class AuthGuardMiddleware:
    def __init__(self, app: ASGIApp, *, verifier_getter, protected_prefix: str = "/tasks") -> None:
        self.app = app
        self.verifier_getter = verifier_getter
        self.protected_prefix = protected_prefix

    def _protected(self, path: str) -> bool:
        return path == self.protected_prefix or path.startswith(self.protected_prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        verifier: TokenVerifier = self.verifier_getter()
        try:
            principal = await verifier.verify_authorization(header)
        except AuthError as exc:
            logger.info("authentication failed", extra={"fields": {"reason": exc.reason, "path": scope["path"]}})
            challenge = b'Bearer realm="task-api"' + (b', error="invalid_token"' if header else b"")
            await _reject(send, 401, UNAUTHORIZED_BODY, [(b"www-authenticate", challenge)])
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


async def _reject(send: Send, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra_headers or [])})
    await send({"type": "http.response.body", "body": body})
