"""The filtered partition read's SQL run by hand (issue 18, item 4): 10k wanted fingerprints
against a storage of 10k partitions and one of 1M, written through the server as the connection
bench writes them, then the storage module's query and its variants sent straight to Postgres
with asyncpg, each with its p50 and the buffer hits / reads of EXPLAIN (ANALYZE, BUFFERS).

Variants: the query as the server sends it (probes sorted like the index); the same probes in
the request's order (sorted by nothing); a plain join the planner is free to plan; and, on a
copy of the index with the bodies INCLUDEd (after VACUUM, so the visibility map lets the probes
skip the heap), the same query as an index-only scan.

`python -m bench filtered_sql` (BENCH_CONNECTION_SCALE=0.1 for a smoke run)."""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from typing import Any

import asyncpg
import uvloop

import artimeta
from artimeta.v1 import connection_pb2_grpc
from artimeta.v1 import partition_pb2 as ppb
from artimeta_server.devstack.procs import free_port
from artimeta_server.storage.connection.partitions import FILTERED_READ
from bench import cpu
from bench.ceilings import new_stack, spawn_server, stop, wait_ready
from bench.connection import BIG_CALLS_ENV, BIG_STORE, BULK, FILTER, SMALL_STORE, _request, _write_partitions

RUNS = 12
# The same query with its probes in the order they came (the request's order: random here).
UNSORTED = FILTERED_READ.replace(" ORDER BY fp, keys", "").replace(" ORDER BY keys", "")
# One join, planned freely: with fresh statistics the planner may hash the whole storage.
JOINED = """
SELECT p.body, p.body_hash, p.body_size
FROM unnest($3::bytea[], $4::bigint[]) AS f(keys, fp)
JOIN arti_storage_partitions p
  ON p.namespace_id = $1 AND p.storage_fingerprint = $2 AND p.input_fingerprint = f.fp AND p.keys = f.keys
"""
# One index scan for all the probes (= ANY over the fingerprints, which the btree walks in its own
# order), the keys checked by a hash join against the wanted pairs: no rescan per probe.
ANY_ARRAY = """
SELECT p.body, p.body_hash, p.body_size
FROM arti_storage_partitions p
JOIN unnest($3::bytea[], $4::bigint[]) AS f(keys, fp) ON p.input_fingerprint = f.fp AND p.keys = f.keys
WHERE p.namespace_id = $1 AND p.storage_fingerprint = $2 AND p.input_fingerprint = ANY($4::bigint[])
"""
COVERING = "bench_storage_partitions_covering"
CREATE_COVERING = f"""
CREATE INDEX {COVERING} ON arti_storage_partitions
    (namespace_id, storage_fingerprint, input_fingerprint, keys) INCLUDE (body, body_hash, body_size)
"""


def _buffers(plan: dict[str, Any]) -> dict[str, Any]:
    top = plan["Plan"]
    text = json.dumps(plan)
    return {
        "execution_ms": round(plan["Execution Time"], 1),
        "shared_hit_blocks": top["Shared Hit Blocks"],
        "shared_read_blocks": top["Shared Read Blocks"],
        "index_only_scan": "Index Only Scan" in text,
        "plan": _shape(top),
        "heap_fetches": sum(_heap_fetches(top)),
    }


def _shape(node: dict[str, Any]) -> str:
    name = node["Node Type"] + (f" {node['Index Name']}" if "Index Name" in node else "")
    children = [_shape(c) for c in node.get("Plans", [])]
    return name + (f" ({', '.join(children)})" if children else "")


def _heap_fetches(node: dict[str, Any]) -> list[int]:
    out = [int(node.get("Heap Fetches", 0))]
    for child in node.get("Plans", []):
        out.extend(_heap_fetches(child))
    return out


async def _time(conn: asyncpg.Connection, query: str, args: tuple[Any, ...]) -> dict[str, Any]:
    stmt = await conn.prepare(query)
    samples = []
    rows = 0
    for _ in range(RUNS):
        t = time.perf_counter()
        rows = len(await stmt.fetch(*args))
        samples.append(time.perf_counter() - t)
    samples = sorted(samples[2:])
    plan = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, *args))[0]
    return {"rows": rows, "p50_ms": round(statistics.median(samples) * 1000, 1), **_buffers(plan)}


async def _variants(dsn: str, ns_id: int, stores: dict[str, tuple[int, list[bytes], list[int]]]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    out: dict[str, Any] = {}
    try:
        await conn.execute("ANALYZE arti_storage_partitions")
        sizes = await conn.fetchrow(
            "SELECT pg_relation_size('arti_storage_partitions') AS heap,"
            " pg_relation_size('arti_storage_partitions_key') AS idx"
        )
        out["heap_mb"] = round(sizes["heap"] / 1e6, 1)
        out["unique_index_mb"] = round(sizes["idx"] / 1e6, 1)
        out["shared_buffers"] = await conn.fetchval("SHOW shared_buffers")

        async def each(name: str, query: str) -> None:
            for label, (storage, keys, fps) in stores.items():
                args: tuple[Any, ...] = (ns_id, storage, keys, fps)
                if query not in (JOINED, ANY_ARRAY):
                    args = (*args, [])
                out.setdefault(name, {})[label] = await _time(conn, query, args)
            by = out[name]
            by["p50_ratio_1m_to_10k"] = round(by["stored_1m"]["p50_ms"] / max(by["stored_10k"]["p50_ms"], 0.1), 2)

        await each("as_sent_sorted_probes", FILTERED_READ)
        await each("unsorted_probes", UNSORTED)
        await each("plain_join", JOINED)
        await each("any_array_one_index_scan", ANY_ARRAY)
        t = time.perf_counter()
        await conn.execute(CREATE_COVERING)
        await conn.execute("VACUUM (ANALYZE) arti_storage_partitions")
        out["covering_index_build_s"] = round(time.perf_counter() - t, 1)
        out["covering_index_mb"] = round(await conn.fetchval(f"SELECT pg_relation_size('{COVERING}')") / 1e6, 1)
        await each("covering_index_after_vacuum", FILTERED_READ)
        await each("covering_index_any_array", ANY_ARRAY)
        await conn.execute(f"DROP INDEX {COVERING}")
        await each("after_vacuum_unique_index", FILTERED_READ)
    finally:
        await conn.close()
    return out


async def _load(target: str, namespace: str) -> dict[str, tuple[int, list[bytes], list[int]]]:
    stores: dict[str, tuple[int, list[bytes], list[int]]] = {}
    async with artimeta.AsyncClient(target) as client:
        client.stub(connection_pb2_grpc.ConnectionServiceStub)
        await client.create_namespace(namespace)
        for label, storage, total in (("stored_10k", 2001, SMALL_STORE), ("stored_1m", 2002, BIG_STORE)):
            rng = random.Random(storage)
            sample: list[ppb.StoragePartition] = []
            for start in range(0, total, BULK):
                request = _request(namespace, storage, min(BULK, total - start), seed=storage + start, start=start)
                await _write_partitions(client, request)
                parts = list(request.partitions)
                sample.extend(rng.sample(parts, max(1, FILTER * len(parts) // total)))
            sample = sample[:FILTER]
            rng.shuffle(sample)  # a request names its partitions in no particular order
            stores[label] = (
                storage,
                [p.keys.SerializeToString(deterministic=True) for p in sample],
                [p.input_fingerprint for p in sample],
            )
    return stores


async def _run() -> dict[str, Any]:
    stack = new_stack(durable=False)
    server = None
    try:
        stack.start()
        port = free_port()
        server = spawn_server(
            stack,
            f"127.0.0.1:{port}",
            {"ARTIMETA_LOG_LEVEL": "WARNING", **BIG_CALLS_ENV},
        )
        target = f"127.0.0.1:{port}"
        wait_ready(target)
        t = time.perf_counter()
        stores = await _load(target, "bench")
        load_s = time.perf_counter() - t
        assert stack.postgres is not None
        dsn = stack.postgres.dsn()
        conn = await asyncpg.connect(dsn)
        try:
            ns_id = int(await conn.fetchval("SELECT id FROM namespaces WHERE name = 'bench'"))
        finally:
            await conn.close()
        return {
            "machine": cpu.machine(),
            "stored": {"stored_10k": SMALL_STORE, "stored_1m": BIG_STORE},
            "filter": FILTER,
            "load_s": round(load_s, 1),
            **await _variants(dsn, ns_id, stores),
            "loadavg_at_end": os.getloadavg(),
        }
    finally:
        if server is not None:
            stop(server)
        stack.remove()


def main() -> dict[str, Any]:
    return uvloop.run(_run())


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
