"""Prometheus metrics, served on their own port (ARTIMETA_METRICS_LISTEN).

With `serve --workers N` every worker writes to files under PROMETHEUS_MULTIPROC_DIR and the
supervising process serves the sum, so one scrape sees the whole pod.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client import multiprocess as _multiprocess

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

RPC_HANDLED = Counter(
    "artimeta_rpc_handled_total",
    "RPCs completed, by method and gRPC status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_LATENCY = Histogram(
    "artimeta_rpc_duration_seconds",
    "RPC handling time, from the handler's start to its last response.",
    ["grpc_service", "grpc_method"],
    buckets=_LATENCY_BUCKETS,
)
RPC_IN_FLIGHT = Gauge(
    "artimeta_rpc_in_flight", "RPCs being handled now.", ["grpc_service"], multiprocess_mode="livesum"
)
DB_POOL_SIZE = Gauge("artimeta_db_pool_size", "Open Postgres connections in the pool.", multiprocess_mode="livesum")
DB_POOL_IN_USE = Gauge(
    "artimeta_db_pool_in_use", "Postgres connections lent to a request now.", multiprocess_mode="livesum"
)
DB_POOL_MAX = Gauge("artimeta_db_pool_max", "The pool's size limit.", multiprocess_mode="livesum")
DB_POOL_WAIT = Histogram(
    "artimeta_db_pool_wait_seconds",
    "Time spent waiting for a pooled Postgres connection.",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
BLOB_BYTES = Counter("artimeta_blob_bytes_total", "Bytes moved to and from the blob store.", ["direction"])
SCHEMA_VERSION = Gauge("artimeta_schema_version", "Highest applied schema migration.", multiprocess_mode="livemax")


def parse_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve(listen: str, *, multiprocess: bool = False) -> tuple[Any, int]:
    """Starts the /metrics HTTP server in a daemon thread; returns it (call .shutdown()) and its port."""
    host, port = parse_listen(listen)
    registry = None
    if multiprocess:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    httpd, _thread = (
        start_http_server(port, addr=host, registry=registry) if registry else start_http_server(port, addr=host)
    )
    return httpd, int(httpd.server_address[1])


def in_multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
