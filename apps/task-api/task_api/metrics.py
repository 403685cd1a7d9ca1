"""Prometheus metrics: requests by route and status, latency histogram, pool usage.

Routes are labelled by their template (``/tasks/{task_id}``), never the raw path,
so label cardinality stays bounded whatever clients send. Each app owns its own
registry so several apps (tests, benchmarks) can live in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Latency buckets tuned for a service whose requests take milliseconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "task_api_http_requests_total",
            "HTTP requests served, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "task_api_http_request_duration_seconds",
            "HTTP request latency in seconds, by method, route template and status code.",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )

    def observe_pool(self, pool_getter: Callable[[], object | None]) -> None:
        self.registry.register(PoolCollector(pool_getter))


class PoolCollector(Collector):
    """Reads asyncpg pool counters at scrape time; nothing to update per request."""

    def __init__(self, pool_getter: Callable[[], object | None]) -> None:
        self._pool_getter = pool_getter

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pool = self._pool_getter()
        size = pool.get_size() if pool is not None else 0  # type: ignore[attr-defined]
        idle = pool.get_idle_size() if pool is not None else 0  # type: ignore[attr-defined]
        maximum = pool.get_max_size() if pool is not None else 0  # type: ignore[attr-defined]
        yield GaugeMetricFamily("task_api_db_pool_size", "Open connections in the PostgreSQL pool.", value=size)
        yield GaugeMetricFamily("task_api_db_pool_idle", "Idle connections in the PostgreSQL pool.", value=idle)
        yield GaugeMetricFamily("task_api_db_pool_in_use", "Connections checked out of the pool.", value=size - idle)
        yield GaugeMetricFamily("task_api_db_pool_max", "Configured maximum pool size.", value=maximum)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _route_label(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return getattr(route, "path", "unmatched")
        # Rejected before routing (e.g. 401 from the auth guard): find the template ourselves.
        for candidate in self.routes:
            match, _unused = candidate.matches(scope)
            if match == Match.FULL:
                return getattr(candidate, "path", "unmatched")
        return "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            labels = (scope["method"], self._route_label(scope), status)
            children = self._children.get(labels)
            if children is None:
                # labels() per request takes a lock and builds the key from strings: look the
                # two children up once per label set (as bounded as the metrics' own children).
                values = (labels[0], labels[1], str(status))
                children = (self.metrics.latency.labels(*values), self.metrics.requests.labels(*values))
                self._children[labels] = children
            children[0].observe(time.perf_counter() - start)
            children[1].inc()
