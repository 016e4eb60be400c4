"""What a request_id costs a write: RecordTags (a new entity's tag each call) and WriteSnapshotTag
(moving a tag), at concurrency 16 against one server process, without a request_id, with a fresh
one per call (the outcome is remembered: one extra INSERT in the mutation's transaction and one
primary-key read before it), and repeating one request_id (the answer is replayed, no work done).
The variants alternate in rounds within the same run; results are ratios to the plain write."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import uvloop

import artimeta
from artimeta.v1 import connection_pb2, connection_pb2_grpc, graph_pb2, tags_pb2, tags_pb2_grpc
from bench import cpu
from bench.ceilings import SERVER_PIDS, artimeta_server, local_stack, ratio

CONCURRENCY = 16
SECONDS = 4.0
ROUNDS = 3
NAMESPACE = "bench-request-ids"


async def _rate(make_call: Callable[[int], Any], server_pid: int) -> tuple[float, float]:
    """Calls per second at CONCURRENCY, and the server's CPU µs per call over the same window."""
    done = 0
    stop_at = time.perf_counter() + SECONDS
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await make_call(next(counter))
            done += 1

    cpu_start = cpu.cpu_s(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return done / elapsed, cpu.us_per_call(cpu.cpu_s(server_pid) - cpu_start, done)


async def _run(target: str, server_pid: int) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(target) as channel:  # no client-side filling: ids are set here
        tags = tags_pb2_grpc.TagServiceStub(channel)
        conn = connection_pb2_grpc.ConnectionServiceStub(channel)
        run = uuid.uuid4().hex[:8]
        for fp in (1, 2):
            snap = graph_pb2.GraphSnapshot(name="g", fingerprint=fp, id=fp, graph_fingerprint=1, document=b"s")
            await conn.WriteSnapshot(connection_pb2.WriteSnapshotRequest(namespace=NAMESPACE, snapshot=snap))
        repeated = str(uuid.uuid4())

        def record(rid: Callable[[], str]) -> Callable[[int], Any]:
            def call(i: int) -> Any:
                return tags.RecordTags(
                    tags_pb2.RecordTagsRequest(
                        namespace=NAMESPACE,
                        entity_type=tags_pb2.TAG_ENTITY_TYPE_VALUE,
                        entity_id=f"{run}-{i:040d}"[-40:] if rid() != repeated else "r" * 40,
                        tags=[tags_pb2.TagKeyValue(key="env", value_json='"prod"')],
                        request_id=rid(),
                    )
                )

            return call

        def move(rid: Callable[[], str]) -> Callable[[int], Any]:
            def call(i: int) -> Any:
                return conn.WriteSnapshotTag(
                    connection_pb2.WriteSnapshotTagRequest(
                        namespace=NAMESPACE,
                        name="g",
                        tag=f"t{i % 64}" if rid() != repeated else "fixed",
                        snapshot_fingerprint=1 + i % 2 if rid() != repeated else 1,
                        overwrite=True,
                        request_id=rid(),
                    )
                )

            return call

        variants: dict[str, Callable[[], str]] = {
            "plain": lambda: "",
            "fresh_request_id": lambda: str(uuid.uuid4()),
            "repeated_request_id": lambda: repeated,
        }
        rates: dict[str, dict[str, list[float]]] = {"record_tags": {}, "write_snapshot_tag": {}}
        costs: dict[str, dict[str, list[float]]] = {"record_tags": {}, "write_snapshot_tag": {}}
        for _ in range(ROUNDS):
            for name, rid in variants.items():
                for rpc, make in (("record_tags", record), ("write_snapshot_tag", move)):
                    rps, us = await _rate(make(rid), server_pid)
                    rates[rpc].setdefault(name, []).append(rps)
                    costs[rpc].setdefault(name, []).append(us)
    out: dict[str, Any] = {}
    for rpc, by_variant in rates.items():
        med = {name: statistics.median(r) for name, r in by_variant.items()}
        out[rpc] = {
            **{f"{name}_rps": round(v, 1) for name, v in med.items()},
            **{f"{name}_server_cpu_us_per_rpc": statistics.median(us) for name, us in costs[rpc].items()},
            "fresh_request_id_vs_plain": ratio(med["fresh_request_id"], med["plain"]),
            "repeated_request_id_vs_plain": ratio(med["repeated_request_id"], med["plain"]),
        }
    return out


def main() -> dict[str, Any]:
    with local_stack() as stack, artimeta_server(stack) as target:
        with artimeta.Client(target) as client:
            client.create_namespace(NAMESPACE)
        cpu.pin_load()  # this process drives the load
        result = uvloop.run(_run(target, SERVER_PIDS[target]))
    return {
        "machine": cpu.machine(),
        "concurrency": CONCURRENCY,
        "seconds_per_sample": SECONDS,
        "rounds": ROUNDS,
        **result,
    }
