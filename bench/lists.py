"""The list views' RPCs over a namespace with 100k redun executions (5 jobs each) and 10k chariots
ops (10 versions each), at concurrency 16: the first page and a page deep in the middle (keyset
paging keeps it as cheap as the first), beside GetNamespace (one Postgres round trip), the bare
grpc.aio echo ceiling (all driven by the same load generator process), and the page's own SQL run
straight through asyncpg at the same concurrency (the database's ceiling for that page)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from grpc_health.v1 import health_pb2

import artimeta
from artimeta.v1 import cache_pb2, namespace_pb2, opstore_pb2
from artimeta_server.domain.pagination import encode_token
from artimeta_server.storage.listings.repository import _EXECUTIONS, _OPS
from bench.ceilings import HEALTH_CHECK, artimeta_server, echo_server, load, local_stack, ratio

EXECUTIONS = 100_000
JOBS_PER_EXECUTION = 5
OPS = 10_000
VERSIONS_PER_OP = 10
PAGE = 50
T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _fill(dsn: str, namespace: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        ns = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", namespace)
        # One execution a second; its root job and children; a call node naming the root task.
        await conn.execute(
            """INSERT INTO cache_executions (namespace_id, id, args, job_id, create_time, updated_time)
               SELECT $1, 'exec-' || lpad(i::text, 6, '0'), '["redun", "run", "main"]'::jsonb,
                      'job-' || lpad(i::text, 6, '0') || '-0', $2::timestamptz + i * interval '1 second', $2::timestamptz + i * interval '1 second'
               FROM generate_series(1, $3) i""",
            ns,
            T0,
            EXECUTIONS,
        )
        await conn.execute(
            """INSERT INTO cache_jobs (namespace_id, id, task_hash, execution_id, parent_id, cached, status,
                                       start_time, end_time)
               SELECT $1, 'job-' || lpad(i::text, 6, '0') || '-' || j, repeat(CASE WHEN j = 0 THEN 'a' ELSE 'b' END, 40),
                      'exec-' || lpad(i::text, 6, '0'), CASE WHEN j = 0 THEN NULL ELSE 'job-' || lpad(i::text, 6, '0') || '-0' END,
                      j % 2 = 1, 'DONE', $2::timestamptz + i * interval '1 second', $2::timestamptz + i * interval '1 second' + interval '5 seconds'
               FROM generate_series(1, $3) i, generate_series(0, $4 - 1) j""",
            ns,
            T0,
            EXECUTIONS,
            JOBS_PER_EXECUTION,
        )
        await conn.execute(
            """INSERT INTO cache_call_nodes (namespace_id, call_hash, task_name, task_hash, args_hash, value_hash)
               VALUES ($1, repeat('c', 40), 'demo.main', repeat('a', 40), repeat('d', 40), repeat('e', 40))""",
            ns,
        )
        await conn.execute(
            "INSERT INTO opstore_ops (namespace_id, name) SELECT $1, 'op-' || lpad(i::text, 5, '0') FROM generate_series(1, $2) i",
            ns,
            OPS,
        )
        await conn.execute(
            """INSERT INTO opstore_versions (namespace_id, op_id, major_hash, minor_hash, patch_hash, creation_time,
                                             major_number, minor_number, patch_number)
               SELECT $1, o.id, 'm', 'n', 'p' || v, 1.7e9 + v, 1, 0, v
               FROM opstore_ops o, generate_series(0, $2 - 1) v WHERE o.namespace_id = $1""",
            ns,
            VERSIONS_PER_OP,
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def _sql_rate(dsn: str, query: str, *args: Any, concurrency: int = 16, seconds: float = 5.0) -> dict[str, float]:
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    calls = 0
    try:
        stop_at = time.perf_counter() + 1.0 + seconds
        measure_from = stop_at - seconds

        async def worker() -> None:
            nonlocal calls
            while (t := time.perf_counter()) < stop_at:
                async with pool.acquire() as conn:
                    await conn.fetch(query, *args)
                calls += t >= measure_from

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await pool.close()
    return {"calls": calls, "rps": round(calls / seconds, 1)}


async def _namespace_id(dsn: str, name: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        ns: int = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", name)
        return ns
    finally:
        await conn.close()


def main() -> dict[str, Any]:
    with echo_server() as echo:
        ceiling = load(echo, HEALTH_CHECK, health_pb2.HealthCheckRequest().SerializeToString())
    with local_stack() as stack, artimeta_server(stack) as target:
        with artimeta.Client(target) as client:
            client.create_namespace("bench")
        dsn = stack.env()["ARTIMETA_DATABASE_URL"]
        asyncio.run(_fill(dsn, "bench"))
        ns = asyncio.run(_namespace_id(dsn, "bench"))
        sql_executions = asyncio.run(_sql_rate(dsn, _EXECUTIONS.format(after=""), ns, PAGE))
        sql_ops = asyncio.run(_sql_rate(dsn, _OPS.format(bounds=""), ns, PAGE))
        middle = EXECUTIONS // 2
        middle_time = T0 + timedelta(seconds=middle)
        micros = (middle_time - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        deep_executions = encode_token("executions", [micros, f"exec-{middle:06d}"])
        deep_ops = encode_token("ops", [f"op-{OPS // 2:05d}"])
        get = load(
            target,
            "/artimeta.v1.NamespaceService/GetNamespace",
            namespace_pb2.GetNamespaceRequest(name="bench").SerializeToString(),
        )
        executions = "/artimeta.v1.CacheService/ListExecutions"
        first = load(
            target, executions, cache_pb2.ListExecutionsRequest(namespace="bench", page_size=PAGE).SerializeToString()
        )
        deep = load(
            target,
            executions,
            cache_pb2.ListExecutionsRequest(
                namespace="bench", page_size=PAGE, page_token=deep_executions
            ).SerializeToString(),
        )
        ops = "/artimeta.v1.OpStoreService/ListOps"
        ops_first = load(target, ops, opstore_pb2.ListOpsRequest(namespace="bench", page_size=PAGE).SerializeToString())
        ops_deep = load(
            target,
            ops,
            opstore_pb2.ListOpsRequest(namespace="bench", page_size=PAGE, page_token=deep_ops).SerializeToString(),
        )
    return {
        "concurrency": 16,
        "page_size": PAGE,
        "executions": EXECUTIONS,
        "jobs": EXECUTIONS * JOBS_PER_EXECUTION,
        "ops": OPS,
        "op_versions": OPS * VERSIONS_PER_OP,
        "echo_ceiling": ceiling,
        "get_namespace": get,
        "list_executions_first_page": first,
        "list_executions_middle_page": deep,
        "list_ops_first_page": ops_first,
        "list_ops_middle_page": ops_deep,
        "sql_ceiling_executions_first_page": sql_executions,
        "sql_ceiling_ops_first_page": sql_ops,
        "list_executions_vs_sql_ceiling": ratio(first["rps"], sql_executions["rps"]),
        "list_ops_vs_sql_ceiling": ratio(ops_first["rps"], sql_ops["rps"]),
        "list_executions_vs_get_namespace": ratio(first["rps"], get["rps"]),
        "list_executions_middle_vs_first": ratio(deep["rps"], first["rps"]),
        "list_ops_vs_get_namespace": ratio(ops_first["rps"], get["rps"]),
        "list_ops_middle_vs_first": ratio(ops_deep["rps"], ops_first["rps"]),
    }
