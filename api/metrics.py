"""Prometheus exposition: business metrics from the database, request latency from this process; and the
request span when tracing is on (telemetry.py).

Business metrics are read from the database at scrape time (store/metrics.py): every process sees the
same figures, so however many API and worker processes run, nothing is counted twice or lost. Request
latency is observed in each API process; with several processes, set PROMETHEUS_MULTIPROC_DIR (before
start, a directory emptied at each deploy) and every process writes there and any one of them answers
for all (prometheus_client's multiprocess mode). Without it, a process answers for itself.
"""

import os
import time
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.metrics import BusinessMetrics
from store.metrics import Histogram as Buckets
from telemetry import Tracing

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
# Seconds, from 5 ms to 10 s: the submit path answers in tens of milliseconds (docs/performance.md).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_requests = CollectorRegistry()
REQUEST_SECONDS = Histogram(
    "orderflow_http_request_duration_seconds",
    "API request latency by route template (never an order ID), method and status class",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
    registry=None if MULTIPROCESS else _requests,
)


def route_of(scope: Scope) -> str:
    """The matched route's template (/v1/orders/{order_id}); one label for everything unmatched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class LatencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, note)
        finally:
            REQUEST_SECONDS.labels(route_of(scope), scope["method"], f"{status // 100}xx").observe(
                time.perf_counter() - started
            )


def _histogram(family: HistogramMetricFamily, labels: list[str], buckets: Buckets) -> None:
    family.add_metric(labels, [(_bound(le), float(count)) for le, count in buckets.buckets], buckets.total)


def _bound(le: float) -> str:
    return "+Inf" if le == float("inf") else repr(le)


class _Business(Collector):
    def __init__(self, figures: BusinessMetrics) -> None:
        self.figures = figures

    def collect(self) -> Iterable[Metric]:
        f = self.figures
        received = CounterMetricFamily("orderflow_orders_received", "Orders received, per channel", labels=["channel"])
        for channel, count in sorted(f.orders_received.items()):
            received.add_metric([channel], count)
        cycle = HistogramMetricFamily("orderflow_order_cycle_seconds", "Order received to fully shipped")
        _histogram(cycle, [], f.order_cycle)
        opened = CounterMetricFamily("orderflow_exceptions_opened", "Exceptions opened, per kind", labels=["kind"])
        for kind, count in sorted(f.exceptions_opened.items()):
            opened.add_metric([kind], count)
        resolution = HistogramMetricFamily(
            "orderflow_exception_resolution_seconds", "Exception opened to resolved, per kind", labels=["kind"]
        )
        for kind, buckets in sorted(f.exception_resolution.items()):
            _histogram(resolution, [kind], buckets)
        still_open = GaugeMetricFamily("orderflow_open_exceptions", "Exceptions open now, per kind", labels=["kind"])
        for kind, count in sorted(f.open_exceptions.items()):
            still_open.add_metric([kind], count)
        at_risk = GaugeMetricFamily("orderflow_orders_at_risk", "Open orders whose ship-by promise is at risk")
        at_risk.add_metric([], f.orders_at_risk)
        deliveries = GaugeMetricFamily(
            "orderflow_webhook_deliveries",
            "Webhook deliveries by status now; failed is the dead-letter queue",
            labels=["status"],
        )
        for status, count in f.webhook_deliveries.items():
            deliveries.add_metric([status], count)
        yield from (received, cycle, opened, resolution, still_open, at_risk, deliveries)


def exposition(figures: BusinessMetrics) -> bytes:
    """The text format: the business figures, then request latency (of every process, in multiprocess mode)."""
    business = CollectorRegistry()
    business.register(_Business(figures))
    requests = _requests
    if MULTIPROCESS:
        requests = CollectorRegistry()
        multiprocess.MultiProcessCollector(requests)  # type: ignore[no-untyped-call]
    return generate_latest(business) + generate_latest(requests)


class TracingMiddleware:
    """A server span per request (installed only when tracing is on): the Temporal client's spans nest under it."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracer = tracing.tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind

        with self.tracer.start_as_current_span(f"{scope['method']} {scope['path']}", kind=SpanKind.SERVER) as span:
            status = 500

            async def note(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, note)
            finally:
                span.update_name(f"{scope['method']} {route_of(scope)}")
                span.set_attribute("http.route", route_of(scope))
                span.set_attribute("http.response.status_code", status)
