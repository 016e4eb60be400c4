"""OpenTelemetry traces, off unless ARTIMETA_OTLP_ENDPOINT is set (the `otel` extra installs the SDK).

`span(name)` is a no-op context manager while tracing is off, so storage code can mark its
Postgres and S3 steps without paying for it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Any

log = logging.getLogger("artimeta.tracing")

_tracer: Any = None
_propagator: Any = None


def setup(endpoint: str, *, service_name: str, insecure: bool, exporter: Any = None) -> None:
    """Turns tracing on. `exporter` replaces the OTLP exporter (tests pass an in-memory one)."""
    global _tracer, _propagator
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=insecure)))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _tracer = provider.get_tracer("artimeta")
    _tracer._artimeta_provider = provider
    _propagator = TraceContextTextMapPropagator()
    _ = trace  # the global provider is left alone: servers in one process keep their own
    log.info("tracing on", extra={"otlp_endpoint": endpoint})


def enabled() -> bool:
    return _tracer is not None


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=dict(attributes or {})) as s:
        yield s


@contextlib.contextmanager
def server_span(name: str, carrier: Mapping[str, str], attributes: Mapping[str, Any]) -> Iterator[Any]:
    """The span of one RPC, continuing the caller's trace when it sent a `traceparent`."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    ctx = _propagator.extract(carrier=dict(carrier))
    with _tracer.start_as_current_span(name, context=ctx, kind=SpanKind.SERVER, attributes=dict(attributes)) as s:
        yield s


def shutdown() -> None:
    """Turns tracing off again (flushes the exporter)."""
    global _tracer, _propagator
    tracer, _tracer, _propagator = _tracer, None, None
    provider = getattr(tracer, "_artimeta_provider", None)
    if provider is not None:
        provider.shutdown()
