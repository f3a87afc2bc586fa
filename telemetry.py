"""Tracing with OpenTelemetry: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/operations.md).

When on, one trace follows an order: the API request's span, the Temporal client's StartWorkflow
span under it, and on the worker the workflow run and each activity (the SDK's TracingInterceptor
carries the context in Temporal headers). Log lines written inside a span carry its `trace_id`.
When off, nothing is imported, no interceptor or middleware is installed, and the log processor
returns at its first test.
"""

import os
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer
    from temporalio.contrib.opentelemetry import TracingInterceptor

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
_on = False


@dataclass(frozen=True)
class Tracing:
    provider: "TracerProvider"
    tracer: "Tracer"

    def interceptor(self) -> "TracingInterceptor":
        from temporalio.contrib.opentelemetry import TracingInterceptor

        return TracingInterceptor(self.tracer)

    def shutdown(self) -> None:
        self.provider.shutdown()


def setup(service: str, exporter: "SpanExporter | None" = None) -> Tracing | None:
    """Tracing for this process, exporting to the OTLP endpoint (or to `exporter`, for tests); None when off."""
    global _on
    if exporter is None and not os.environ.get(ENDPOINT_VARIABLE):
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter is None:
        # OTLP over HTTP; the exporter reads the endpoint, headers and timeout from the OTEL_* variables.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _on = True
    return Tracing(provider, provider.get_tracer("orderflow"))


def add_trace_id(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace ID on the log line, when tracing is on."""
    if not _on:
        return event
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event
