"""``GET /tasks`` served without FastAPI's per-request machinery.

Measured with bench/profile_app.py and bench/run_bench.py: the list route's own work
(query model, one asyncpg fetch, orjson) is a fraction of what the request costs;
FastAPI's routing, dependency solving and the exit stacks around every endpoint cost
about as much again, and (measured in-process) a FastAPI endpoint that awaits a
database round trip costs ~65 us more CPU than the same await in a plain Starlette
route. This middleware answers exactly ``GET /tasks`` itself with the route's own
function (:func:`task_api.routes.list_page`), so the body, the errors and the checks
are the route's:

- it sits inside the auth guard, so the caller is already authenticated (the
  guard's 401 comes first, as for every /tasks request); without a principal it
  hands the request on, and the route's own check answers 401;
- invalid query parameters and an unavailable database are answered by the
  app's own exception handlers (the same 422 and 503 bodies and headers); any
  other error propagates to FastAPI's 500 handler, as from the route;
- ``scope["route"]`` is the route's, so the metrics label it ``/tasks``.

Everything else (``/tasks/...``, other methods, other paths) goes to FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from task_api.routes import ListQuery, list_page, parse_list_query

JSON_CONTENT_TYPE = (b"content-type", b"application/json")
QUERY_CACHE_SIZE = 256


class ListFastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        route: BaseRoute,
        pool_getter: Callable[[], object],
        exception_handlers: dict,
    ) -> None:
        self.app = app
        self.path = path
        self.route = route
        self.pool_getter = pool_getter
        # The app's own dict (filled by add_exception_handler), looked up by the exception's MRO.
        self.exception_handlers = exception_handlers
        # Valid query strings already parsed (clients repeat the same few): the model, not the page.
        self._queries: dict[bytes, ListQuery] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        principal = scope.get("state", {}).get("principal")
        if principal is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            raw_query = scope["query_string"]
            query = self._queries.get(raw_query)
            if query is None:
                # What Starlette's request.query_params gives, as a dict: the last of repeated names counts.
                query = parse_list_query(dict(parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True)))
                if len(self._queries) >= QUERY_CACHE_SIZE:
                    self._queries.clear()
                self._queries[raw_query] = query
            body = await list_page(self.pool_getter(), principal, query)
        except Exception as exc:
            handler = next(
                (self.exception_handlers[c] for c in type(exc).__mro__ if c in self.exception_handlers), None
            )
            if handler is None:
                raise
            response = await handler(Request(scope, receive, send), exc)
            await response(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), JSON_CONTENT_TYPE],
            }
        )
        await send({"type": "http.response.body", "body": body})
