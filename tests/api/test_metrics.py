"""The Prometheus endpoint, scraped after traffic: counts per method and code, latency,
pool and schema gauges, blob bytes."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

import artimeta
from artimeta_server.devstack.stack import Stack
from artimeta_server.server import Server
from artimeta_server.storage import migrate
from tests.conftest import settings_for, unique_name


@pytest.fixture(scope="module")
async def metrics_server(stack: Stack) -> AsyncIterator[Server]:
    srv = Server(settings_for(stack, metrics_listen="127.0.0.1:0"))
    await srv.start(migrate_schema=True)
    yield srv
    await srv.stop(0.2)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def handled(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], method: str, code: str) -> float:
    labels = (("grpc_code", code), ("grpc_method", method), ("grpc_service", "artimeta.v1.NamespaceService"))
    return samples.get(("artimeta_rpc_handled_total", labels), 0.0)


async def test_counts_per_code_after_traffic(metrics_server: Server) -> None:
    assert metrics_server.metrics_port
    before = scrape(metrics_server.metrics_port)
    name = unique_name()
    async with artimeta.AsyncClient(f"127.0.0.1:{metrics_server.port}", retry=None) as c:
        await c.create_namespace(name)
        for _ in range(3):
            await c.get_namespace(name)
        for _ in range(2):
            with pytest.raises(artimeta.NotFound):
                await c.get_namespace(unique_name())
        with pytest.raises(artimeta.InvalidArgument):
            await c.get_namespace("")
        await c.delete_namespace(name)
    after = scrape(metrics_server.metrics_port)
    assert handled(after, "GetNamespace", "OK") - handled(before, "GetNamespace", "OK") == 3
    assert handled(after, "GetNamespace", "NOT_FOUND") - handled(before, "GetNamespace", "NOT_FOUND") == 2
    assert handled(after, "GetNamespace", "INVALID_ARGUMENT") - handled(before, "GetNamespace", "INVALID_ARGUMENT") == 1
    assert handled(after, "CreateNamespace", "OK") - handled(before, "CreateNamespace", "OK") == 1
    count = (
        "artimeta_rpc_duration_seconds_count",
        (("grpc_method", "GetNamespace"), ("grpc_service", "artimeta.v1.NamespaceService")),
    )
    assert after[count] - before.get(count, 0.0) == 6
    assert after[("artimeta_db_pool_wait_seconds_count", ())] > before.get(
        ("artimeta_db_pool_wait_seconds_count", ()), 0
    )
    assert after[("artimeta_schema_version", ())] == max(m.version for m in migrate.available())
    assert after[("artimeta_db_pool_max", ())] >= 1
    assert ("artimeta_rpc_in_flight", (("grpc_service", "artimeta.v1.NamespaceService"),)) in after


async def test_blob_bytes_in_and_out(metrics_server: Server) -> None:
    domain = metrics_server.domain
    assert domain is not None
    name = unique_name()
    ns = await domain.namespaces.create(name, "", {})
    before = scrape(metrics_server.metrics_port)
    payload = b"x" * 3000 + unique_name().encode()
    digest = await domain.blob_store.put(ns.id, payload)
    assert await domain.blob_store.get(ns.id, digest) == payload
    after = scrape(metrics_server.metrics_port)
    for direction in ("in", "out"):
        key = ("artimeta_blob_bytes_total", (("direction", direction),))
        assert after[key] - before.get(key, 0.0) == len(payload)
    await domain.namespaces.delete(name, allow_missing=False)
