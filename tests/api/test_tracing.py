"""Traces: one server span per RPC continuing the caller's trace (W3C traceparent), carrying the
request id, with the Postgres work beneath it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import artimeta
from artimeta.v1 import namespace_pb2 as pb
from artimeta_server import tracing
from tests.conftest import unique_name

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.setup("", service_name="artimeta-test", insecure=True, exporter=exporter)
    yield exporter
    tracing.shutdown()


async def test_rpc_span_continues_the_callers_trace(
    spans: InMemorySpanExporter, aclient: artimeta.AsyncClient, namespace: str
) -> None:
    stub = aclient._ns
    md = (("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01"), ("x-request-id", "req-" + unique_name()))
    await stub.GetNamespace(pb.GetNamespaceRequest(name=namespace), metadata=md, timeout=10)  # type: ignore[misc]  # AsyncClient._ns is typed as the sync stub
    finished = spans.get_finished_spans()
    server = [s for s in finished if s.name == "artimeta.v1.NamespaceService/GetNamespace"]
    assert len(server) == 1
    span = server[0]
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.attributes is not None
    assert span.attributes["artimeta.request_id"] == md[1][1]
    assert span.attributes["artimeta.namespace"] == namespace
    children = [s for s in finished if s.parent is not None and s.parent.span_id == span.context.span_id]
    assert any(s.name == "postgres" for s in children)
