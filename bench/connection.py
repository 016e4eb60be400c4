"""ConnectionService benchmark, each figure beside its ceiling measured in the same run:

- ReadSnapshotTag and ReadGraph at concurrency 16 vs a bare grpc.aio echo server (RPC ceiling);
  both servers run on uvloop in their own process, the load generator in this one, and every
  client sends pre-serialized bytes and does not parse replies, so client work is equal.
- WriteArtifactPartitions of 100k partitions in one call, end to end, vs raw asyncpg COPY of the
  same rows into an equivalent table (same columns, same unique index).
- ReadArtifactPartitions filtered by 10k input fingerprints on a storage holding 1M partitions
  vs one holding 10k (flat with table size).

Run: `python -m bench connection` (or `make bench`). Sizes can be lowered for a smoke run with
BENCH_CONNECTION_SCALE=0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import uvloop

import artimeta
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, graph_pb2
from artimeta.v1 import partition_pb2 as ppb
from artimeta_server.devstack.procs import free_port
from artimeta_server.storage.connection.partitions import FILTERED_READ
from bench import cpu
from bench.ceilings import new_stack, spawn_server, stop

SCALE = float(os.environ.get("BENCH_CONNECTION_SCALE", "1"))
# The server settings the 100k-partition calls need: room for their messages and statements.
BIG_CALLS_ENV = {"ARTIMETA_MAX_MESSAGE_BYTES": str(256 * 1024 * 1024), "ARTIMETA_DB_STATEMENT_TIMEOUT_S": "600"}
CONCURRENCY = 16
POINT_SECONDS = 2.0
POINT_ROUNDS = 5
BULK = int(100_000 * SCALE)
BIG_STORE = int(1_000_000 * SCALE)
SMALL_STORE = int(10_000 * SCALE)
FILTER = int(10_000 * SCALE)
SERVICE = "/artimeta.v1.ConnectionService/"
# The index the filtered read probes.
INDEX = "arti_storage_partitions_key"

ECHO_SERVER = r"""
import asyncio, sys, grpc, uvloop

async def main():
    async def echo(request, context):
        return request
    methods = {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    server = grpc.aio.server()
    # Registered the way generated code registers services (the fast path for known methods).
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo", methods),))
    server.add_registered_method_handlers("bench.Echo", methods)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()

uvloop.run(main())
"""


def _wait_port(port: int, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _pcts(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(s[len(s) // 2] * 1000, 3),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 3),
    }


async def _load(call: Callable[[], Awaitable[Any]], seconds: float, server_pid: int) -> dict[str, float]:
    """CONCURRENCY workers calling back to back for `seconds` (after a short warm-up), with the
    CPU µs the server process used per call in that window."""
    latencies: list[float] = []
    stop = time.perf_counter() + 0.2
    while time.perf_counter() < stop:
        await call()
    done = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < done:
            t = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t)

    cpu_start = cpu.cpu_s(server_pid)
    start = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])
    elapsed = time.perf_counter() - start
    used = cpu.cpu_s(server_pid) - cpu_start
    return {
        "rpc_per_s": round(len(latencies) / elapsed, 1),
        "calls": len(latencies),
        "server_cpu_us_per_rpc": cpu.us_per_call(used, len(latencies)),
        **_pcts(latencies),
    }


def _raw(channel: grpc.aio.Channel, path: str) -> Any:
    # Identity (de)serializers: requests go out pre-encoded and replies stay bytes.
    return channel.unary_unary(path, request_serializer=None, response_deserializer=None)


def _request(namespace: str, storage: int, n: int, *, seed: int, start: int = 0) -> pb.WriteArtifactPartitionsRequest:
    """The request with its partitions built in place: a message built on its own and then put in
    a repeated field is copied there, which costs as much again as building it."""
    rng = random.Random(seed)
    base = date(2000, 1, 1)
    request = pb.WriteArtifactPartitionsRequest(namespace=namespace, storage_fingerprint=storage)
    add = request.partitions.add
    for i in range(start, start + n):
        p = add(
            type="arti.storage.local:LocalFilePartition",
            fields=b'{"path":"/data/events/day=%d/part-%d.json"}' % (i % 9000, i),
            input_fingerprint=rng.getrandbits(63) - (1 << 62),
            content_fingerprint=rng.getrandbits(63) - (1 << 62),
        )
        d = base + timedelta(days=i % 9000)
        keys = p.keys.keys
        day = keys["day"].date_key
        day.year, day.month, day.day = d.year, d.month, d.day
        keys["shard"].int64_key = i
    return request


async def seed_point_reads(client: artimeta.AsyncClient, namespace: str) -> None:
    """The graph "bench" (fingerprint 123), its snapshot 456 (id 7) and the tag "prod" on it: the
    rows the point reads hit."""
    graph = graph_pb2.Graph(name="bench", fingerprint=123, document=os.urandom(2048), document_format="bench")
    snap = graph_pb2.GraphSnapshot(
        name="bench", fingerprint=456, id=7, graph_fingerprint=123, document=os.urandom(2048)
    )
    stub = client.stub(connection_pb2_grpc.ConnectionServiceStub)
    await client.call(stub.WriteGraph, pb.WriteGraphRequest(namespace=namespace, graph=graph))
    await client.call(stub.WriteSnapshot, pb.WriteSnapshotRequest(namespace=namespace, snapshot=snap))
    await client.call(
        stub.WriteSnapshotTag,
        pb.WriteSnapshotTagRequest(namespace=namespace, name="bench", tag="prod", snapshot_fingerprint=456),
    )


async def _point_reads(target: str, echo_target: str, namespace: str, server_pid: int, echo_pid: int) -> dict[str, Any]:
    async with artimeta.AsyncClient(target) as client:
        await seed_point_reads(client, namespace)
    out: dict[str, Any] = {}
    async with grpc.aio.insecure_channel(echo_target) as echo_ch, grpc.aio.insecure_channel(target) as ch:
        tag_req = pb.ReadSnapshotTagRequest(namespace=namespace, name="bench", tag="prod").SerializeToString()
        graph_req = pb.ReadGraphRequest(namespace=namespace, name="bench", fingerprint=123).SerializeToString()
        echo = _raw(echo_ch, "/bench.Echo/Echo")
        read_tag = _raw(ch, SERVICE + "ReadSnapshotTag")
        read_graph = _raw(ch, SERVICE + "ReadGraph")
        # The echo server returns a reply as large as ReadGraph's, so the ceiling moves the same bytes.
        reply_size = len(await read_graph(graph_req))
        echo_payload = b"\x00" * reply_size
        # Short runs interleaved, each ratio taken against the echo run of its own round, so noise
        # from other work on the machine hits the ceiling and the measured RPC alike.
        runs: dict[str, list[dict[str, float]]] = {"echo": [], "ReadSnapshotTag": [], "ReadGraph": []}
        for _ in range(POINT_ROUNDS):
            runs["echo"].append(await _load(lambda: echo(echo_payload), POINT_SECONDS, echo_pid))
            runs["ReadSnapshotTag"].append(await _load(lambda: read_tag(tag_req), POINT_SECONDS, server_pid))
            runs["ReadGraph"].append(await _load(lambda: read_graph(graph_req), POINT_SECONDS, server_pid))
    for name, results in runs.items():
        out[name] = {
            "rpc_per_s_median": statistics.median(r["rpc_per_s"] for r in results),
            "p50_ms_median": statistics.median(r["p50_ms"] for r in results),
            "p99_ms_median": statistics.median(r["p99_ms"] for r in results),
            "server_cpu_us_per_rpc_median": statistics.median(r["server_cpu_us_per_rpc"] for r in results),
            "runs_rpc_per_s": [r["rpc_per_s"] for r in results],
        }
    for name in ("ReadSnapshotTag", "ReadGraph"):
        ratios = [r["rpc_per_s"] / e["rpc_per_s"] for r, e in zip(runs[name], runs["echo"], strict=True)]
        out[name]["ratio_to_echo_per_round"] = [round(x, 3) for x in ratios]
        out[name]["ratio_to_echo"] = round(statistics.median(ratios), 3)
        out[name]["target_ratio"] = 0.7
        out[name]["meets_target"] = out[name]["ratio_to_echo"] >= 0.7
    return out


def _standalone_request(namespace: str, storage: int, n: int, *, seed: int) -> pb.WriteArtifactPartitionsRequest:
    """The same request built the obvious way (messages on their own, then the request from the
    list): the build the in-place one is compared with in the same run."""
    rng = random.Random(seed)
    base = date(2000, 1, 1)
    out = []
    for i in range(n):
        p = ppb.StoragePartition(
            type="arti.storage.local:LocalFilePartition",
            fields=b'{"path":"/data/events/day=%d/part-%d.json"}' % (i % 9000, i),
            input_fingerprint=rng.getrandbits(63) - (1 << 62),
            content_fingerprint=rng.getrandbits(63) - (1 << 62),
        )
        d = base + timedelta(days=i % 9000)
        p.keys.keys["day"].date_key.CopyFrom(ppb.CalendarDate(year=d.year, month=d.month, day=d.day))
        p.keys.keys["shard"].int64_key = i
        out.append(p)
    return pb.WriteArtifactPartitionsRequest(namespace=namespace, storage_fingerprint=storage, partitions=out)


async def _write_partitions(client: artimeta.AsyncClient, request: pb.WriteArtifactPartitionsRequest) -> int:
    from artimeta.v1 import connection_pb2_grpc

    stub = client.stub(connection_pb2_grpc.ConnectionServiceStub)
    resp = await client.call(stub.WriteArtifactPartitions, request, timeout=600)
    return int(resp.added_count)


async def _bulk_write(target: str, dsn: str, namespace: str) -> dict[str, Any]:
    runs = []
    async with artimeta.AsyncClient(target) as client:
        for rep in range(3):
            t = time.perf_counter()
            request = _request(namespace, 1000 + rep, BULK, seed=rep)
            built = time.perf_counter() - t
            t = time.perf_counter()
            added = await _write_partitions(client, request)
            rpc = time.perf_counter() - t
            assert added == BULK, added
            runs.append((rpc, built))
    rpc_s = statistics.median(r[0] for r in runs)
    build_s = statistics.median(r[1] for r in runs)
    t = time.perf_counter()
    standalone = _standalone_request(namespace, 1000, BULK, seed=0)
    standalone_build_s = time.perf_counter() - t
    assert standalone == _request(namespace, 1000, BULK, seed=0)
    request_bytes = request.ByteSize()
    parts = request.partitions

    # Ceiling: raw COPY of the same rows into a table shaped like arti_storage_partitions.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE bench_copy (LIKE arti_storage_partitions INCLUDING ALL)")
        import hashlib

        rows = []
        for p in parts:
            body = p.SerializeToString(deterministic=True)
            rows.append(
                (
                    1,
                    9,
                    p.input_fingerprint,
                    p.keys.SerializeToString(deterministic=True),
                    hashlib.blake2b(body, digest_size=16).digest(),
                    body,
                    None,
                    len(body),
                )
            )
        copies = []
        for _ in range(3):
            await conn.execute("TRUNCATE bench_copy")
            t = time.perf_counter()
            await conn.copy_records_to_table("bench_copy", records=rows)
            copies.append(time.perf_counter() - t)
        copy_s = statistics.median(copies)
        await conn.execute("DROP TABLE bench_copy")
    finally:
        await conn.close()
    per_s = BULK / rpc_s
    return {
        "partitions": BULK,
        "request_mb": round(request_bytes / 1e6, 2),
        "rpc_s": round(rpc_s, 3),
        "rpc_runs_s": [round(r[0], 3) for r in runs],
        "partitions_per_s": round(per_s),
        "client_build_s": round(build_s, 3),
        "partitions_per_s_including_client_build": round(BULK / (rpc_s + build_s)),
        "client_build_standalone_messages_s": round(standalone_build_s, 3),
        "ceiling_raw_copy_s": round(copy_s, 3),
        "ceiling_raw_copy_rows_per_s": round(BULK / copy_s),
        "ratio_to_raw_copy": round(copy_s / rpc_s, 3),
        "target_partitions_per_s": 150_000,
        "meets_target": per_s >= 150_000,
    }


async def _filtered_reads(target: str, dsn: str, namespace: str) -> dict[str, Any]:
    from artimeta.v1 import connection_pb2_grpc

    out: dict[str, Any] = {}
    filters: dict[str, tuple[int, list[ppb.InputFingerprint]]] = {}
    async with artimeta.AsyncClient(target) as client:
        stub = client.stub(connection_pb2_grpc.ConnectionServiceStub)
        for label, storage, total in (("stored_10k", 2001, SMALL_STORE), ("stored_1m", 2002, BIG_STORE)):
            t = time.perf_counter()
            sample: list[ppb.StoragePartition] = []
            rng = random.Random(storage)
            for start in range(0, total, BULK):
                request = _request(namespace, storage, min(BULK, total - start), seed=storage + start, start=start)
                await _write_partitions(client, request)
                parts = list(request.partitions)
                sample.extend(rng.sample(parts, max(1, FILTER * len(parts) // total)))
            load_s = time.perf_counter() - t
            sample = sample[:FILTER]
            wanted = [ppb.InputFingerprint(keys=p.keys, fingerprint=p.input_fingerprint) for p in sample]
            filters[label] = (storage, wanted)
            request = pb.ReadArtifactPartitionsRequest(
                namespace=namespace, storage_fingerprint=storage, input_fingerprints=wanted
            )
            latencies = []
            for _ in range(12):
                t = time.perf_counter()
                n = 0
                async for chunk in client.stream(stub.ReadArtifactPartitions, request, timeout=120):
                    n += len(chunk.partitions)
                latencies.append(time.perf_counter() - t)
                assert n == len(sample), (n, len(sample))
            out[label] = {"stored": total, "filter": len(wanted), "load_s": round(load_s, 1), **_pcts(latencies[2:])}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ANALYZE arti_storage_partitions")
        ns_id = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", namespace)
        for label, (storage, wanted) in filters.items():
            keys = [w.keys.SerializeToString(deterministic=True) for w in wanted]
            # The server's own query, run once more: where its pages came from (shared buffers or
            # not) is what separates the 1M case from the 10k one.
            plan = json.loads(
                await conn.fetchval(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + FILTERED_READ,
                    ns_id,
                    storage,
                    keys,
                    [w.fingerprint for w in wanted],
                    [],
                )
            )[0]
            top = plan["Plan"]
            out[label]["explain"] = {
                "execution_ms": round(plan["Execution Time"], 1),
                "shared_hit_blocks": top["Shared Hit Blocks"],
                "shared_read_blocks": top["Shared Read Blocks"],
            }
            out[label]["index_in_plan"] = INDEX in json.dumps(plan)
    finally:
        await conn.close()
    small, big = out["stored_10k"]["p50_ms"], out["stored_1m"]["p50_ms"]
    out["p50_ratio_1m_to_10k"] = round(big / small, 2)
    out["target_p50_ms"] = 40
    out["meets_target"] = big <= 40 and big <= small * 1.2
    out["index_in_plan"] = all(out[label]["index_in_plan"] for label in filters)
    return out


async def _run() -> dict[str, Any]:
    stack = new_stack(durable=False)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        stack.start()
        cpu.pin_load()  # after the stack: Postgres and S3 stay unpinned
        port = free_port()
        server = spawn_server(
            stack,
            f"127.0.0.1:{port}",
            # The access log on, as in production; its lines go to /dev/null.
            {"ARTIMETA_LOG_LEVEL": "INFO", **BIG_CALLS_ENV},
        )
        procs.append(server)
        echo = subprocess.Popen(
            [sys.executable, "-c", ECHO_SERVER], stdout=subprocess.PIPE, preexec_fn=cpu.server_preexec()
        )
        procs.append(echo)
        assert echo.stdout is not None
        echo_port = int(echo.stdout.readline())
        _wait_port(port)
        target = f"127.0.0.1:{port}"
        assert stack.postgres is not None
        dsn = stack.postgres.dsn()
        async with artimeta.AsyncClient(target) as client:
            await client.create_namespace("bench")
        report: dict[str, Any] = {
            "benchmark": "connection",
            "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
            "scale": SCALE,
            "concurrency": CONCURRENCY,
            "postgres_fsync": False,
        }
        report["machine"]["pinned"] = cpu.pinned()
        report["point_reads"] = await _point_reads(target, f"127.0.0.1:{echo_port}", "bench", server.pid, echo.pid)
        if os.environ.get("BENCH_CONNECTION_POINT_ONLY") != "1":
            report["write_artifact_partitions"] = await _bulk_write(target, dsn, "bench")
            report["filtered_read"] = await _filtered_reads(target, dsn, "bench")
        report["server_rss_mb"] = round(_rss_mb(server.pid), 1)
        report["machine"]["loadavg_at_end"] = os.getloadavg()
        return report
    finally:
        stop(*procs)
        stack.remove()


def main() -> dict[str, Any]:
    return uvloop.run(_run())


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, sort_keys=True))
