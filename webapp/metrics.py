"""``GET /metrics`` (Prometheus text format) and the middleware that measures every request.

Request metrics are this process's own (two web processes: two targets, sum them). What the database knows —
cycles and reviews by status, submissions accepted, messages by channel and state — is counted at scrape time,
so it is exact however many processes there are, and the same from every one of them (use max, not sum).
Labels carry route templates (``/hr/cycles/{cycle_id}``), never a raw path: no ids, bounded cardinality.
"""

from __future__ import annotations

import hmac
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.observability import REQUEST
from webapp.context import AppContext

UNMATCHED = "unmatched"  # no route answered (404): one label value, whatever the path was
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
DB_CACHE_S = 5.0  # several scrapers (HA Prometheus pairs) within this window share one set of queries

# One round trip. Reviews are counted for the cycles still in progress only: closed reviews of old cycles would
# only grow; submissions and messages are counted for all time (they only grow, like counters).
DB_COUNTS = """
SELECT 'cycle', status, '', count(*) FROM review_cycle GROUP BY status
UNION ALL
SELECT 'review', r.status, '', count(*) FROM review r JOIN review_cycle c ON c.id = r.cycle_id
 WHERE c.status NOT IN ('locked', 'cancelled') GROUP BY r.status
UNION ALL
SELECT 'submission', kind, '', count(*) FROM task WHERE status = 'done' GROUP BY kind
UNION ALL
SELECT 'notification', channel, status, count(*) FROM notification GROUP BY channel, status
"""


class WebMetrics:
    """The app's registry: request metrics, process metrics, and the database counts read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter("kamreview_http_requests", "HTTP requests answered, by route template, method and "
                                "status", ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("kamreview_http_request_duration_seconds", "Time to answer a request, by route "
                                 "template and method", ["route", "method"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self._db: tuple[float, list[Any]] | None = None

    async def database_families(self, ctx: AppContext) -> list[Any]:
        now = time.monotonic()
        if self._db is not None and now - self._db[0] < DB_CACHE_S:
            return self._db[1]
        started = time.perf_counter()
        up = GaugeMetricFamily("kamreview_database_scrape_ok", "1 when the database counts below could be read")
        took = GaugeMetricFamily("kamreview_database_scrape_seconds", "Time the database counts took to read")
        try:
            async with ctx.pool.connection(timeout=5) as conn:
                rows = await (await conn.execute(DB_COUNTS)).fetchall()
        except Exception:  # noqa: BLE001 - a scrape still answers (request metrics) when the database does not
            up.add_metric([], 0)
            return [up]
        cycles = GaugeMetricFamily("kamreview_cycles", "Review cycles by status (phase)", labels=["status"])
        reviews = GaugeMetricFamily("kamreview_reviews", "Reviews of the cycles in progress (not locked or cancelled), "
                                    "by status", labels=["status"])
        submissions = CounterMetricFamily("kamreview_submissions_accepted", "Submissions accepted (tasks done), by "
                                          "kind, all cycles", labels=["kind"])
        messages = GaugeMetricFamily("kamreview_notifications", "Messages in the outbox by channel and state (queued, "
                                     "claimed, sending, sent, retry, failed, uncertain)", labels=["channel", "status"])
        for what, a, b, n in rows:
            if what == "cycle":
                cycles.add_metric([a], n)
            elif what == "review":
                reviews.add_metric([a], n)
            elif what == "submission":
                submissions.add_metric([a], n)
            else:
                messages.add_metric([a, b], n)
        up.add_metric([], 1)
        took.add_metric([], time.perf_counter() - started)
        families = [up, took, cycles, reviews, submissions, messages]
        self._db = (now, families)
        return families

    async def exposition(self, ctx: AppContext) -> bytes:
        families = await self.database_families(ctx)
        scraped = CollectorRegistry()
        scraped.register(_Fixed(families))
        return generate_latest(self.registry) + generate_latest(scraped)


class _Fixed:
    """A collector of metric families read beforehand (prometheus_client collects synchronously)."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> list[Any]:
        return self.families


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path_format", None) or getattr(route, "path", None) or UNMATCHED


class MeasureRequests:
    """Outermost middleware: times every request, counts it by route template, and gives it a request id
    (the client's ``X-Request-ID`` when it is a plain token, else a new one), echoed in the response and
    attached to every log line written while it is served."""

    def __init__(self, app: ASGIApp, metrics: WebMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex[:16]
        # The route is known once the router has matched: read when a line is written (services.observability).
        info: dict[str, Any] = {"request_id": request_id, "method": scope["method"], "route": lambda: route_of(scope)}
        token = REQUEST.set(info)
        started = time.perf_counter()
        status = 500

        async def send_measured(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                info.update(route=route_of(scope), status=status)
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_measured)
        finally:
            route = route_of(scope)
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route, scope["method"]).observe(time.perf_counter() - started)
            REQUEST.reset(token)


def install_metrics(app: FastAPI, ctx: AppContext) -> None:
    """The middleware (call after every other add_middleware: it must be outermost) and ``GET /metrics``."""
    metrics = WebMetrics()
    app.state.metrics = metrics
    app.add_middleware(MeasureRequests, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        expected = ctx.settings.metrics_token
        if expected:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
                return JSONResponse({"detail": "GET /metrics needs the bearer token (KAMREVIEW_WEB_METRICS_TOKEN)",
                                     "errors": []}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(await metrics.exposition(ctx), media_type=CONTENT_TYPE_LATEST)
