"""Where a hit costs server CPU: ReadSnapshotTag, GetNamespace and CheckCache hits profiled with
cProfile inside one in-process server (access log on, as in production) while bench.load drives
it from another process. Reports, per RPC, the functions with the most own time in µs per call,
so that what is not the work (conversions, validation twice, allocations, logging) shows up.

cProfile's own cost inflates every figure (about 2x); compare entries with each other, and use
the other benchmarks' server CPU µs per RPC for absolute numbers."""

from __future__ import annotations

import asyncio
import cProfile
import logging
import os
import pstats
import sys
from typing import Any

import uvloop

import artimeta
from artimeta.v1 import connection_pb2 as cpb
from artimeta.v1 import connection_pb2_grpc, graph_pb2
from artimeta.v1 import namespace_pb2 as npb
from artimeta_server import logs
from artimeta_server.config import Settings
from artimeta_server.server import Server
from bench import cpu
from bench.cache import CHECK_CACHE, check_cache_request
from bench.ceilings import ROOT, local_stack

SECONDS = float(os.environ.get("BENCH_HOTPATHS_SECONDS", "4"))
TOP = int(os.environ.get("BENCH_HOTPATHS_TOP", "14"))


async def _load(target: str, method: str, request: bytes) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        target,
        method,
        request.hex(),
        "--seconds",
        str(SECONDS),
        "--warmup",
        "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()


def _top(prof: cProfile.Profile, calls: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(prof)
    rows = []
    for (path, line, func), (_cc, nc, tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        top = max(callers.items(), key=lambda c: c[1][3], default=None)
        rows.append(
            {
                "function": f"{os.path.basename(path)}:{line}:{func}",
                "mostly_called_from": "" if top is None else f"{os.path.basename(top[0][0])}:{top[0][1]}:{top[0][2]}",
                "own_us_per_rpc": round(tt * 1e6 / calls, 1),
                "cumulative_us_per_rpc": round(ct * 1e6 / calls, 1),
                "calls_per_rpc": round(nc / calls, 2),
            }
        )
    rows.sort(key=lambda r: -float(r["own_us_per_rpc"]))
    return rows[:TOP]


async def _run() -> dict[str, Any]:
    with local_stack(durable=False) as stack:
        if cpu.pinned():  # the in-process server on the server core; bench.load pins itself
            os.sched_setaffinity(0, cpu.SERVER_CPUS)
        settings = Settings.from_env({**stack.env(), "ARTIMETA_LISTEN": "127.0.0.1:0", "ARTIMETA_LOG_JSON": "true"})
        srv = Server(settings)
        await srv.start(migrate_schema=True)
        # The access log is on, as `serve` sets it up; its lines go nowhere so that the terminal
        # is not the cost.
        logs.setup("INFO", json_lines=True)
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
        target = f"127.0.0.1:{srv.port}"
        try:
            async with artimeta.AsyncClient(target) as client:
                await client.create_namespace("bench")
                stub = client.stub(connection_pb2_grpc.ConnectionServiceStub)
                snap = graph_pb2.GraphSnapshot(name="b", fingerprint=4, id=4, graph_fingerprint=1, document=b"x" * 2048)
                await client.call(stub.WriteSnapshot, cpb.WriteSnapshotRequest(namespace="bench", snapshot=snap))
                await client.call(
                    stub.WriteSnapshotTag,
                    cpb.WriteSnapshotTagRequest(namespace="bench", name="b", tag="prod", snapshot_fingerprint=4),
                )
            check = await asyncio.to_thread(check_cache_request, target)
            cases = {
                "ReadSnapshotTag": (
                    "/artimeta.v1.ConnectionService/ReadSnapshotTag",
                    cpb.ReadSnapshotTagRequest(namespace="bench", name="b", tag="prod").SerializeToString(),
                ),
                "GetNamespace": (
                    "/artimeta.v1.NamespaceService/GetNamespace",
                    npb.GetNamespaceRequest(name="bench").SerializeToString(),
                ),
                "CheckCache": (CHECK_CACHE, check),
            }
            out: dict[str, Any] = {"machine": cpu.machine(), "seconds": SECONDS}
            for name, (method, request) in cases.items():
                await _load(target, method, request)  # warm
                handled = _handled(name)
                prof = cProfile.Profile()
                prof.enable()
                await _load(target, method, request)
                prof.disable()
                calls = _handled(name) - handled
                out[name] = {"rpcs": calls, "top_own_time": _top(prof, max(calls, 1))}
            return out
        finally:
            await srv.stop(0.5)


def _handled(method: str) -> int:
    from prometheus_client import REGISTRY

    total = 0.0
    for family in REGISTRY.collect():
        if family.name == "artimeta_rpc_handled":
            for s in family.samples:
                if s.name.endswith("_total") and s.labels.get("grpc_method") == method:
                    total += s.value
    return int(total)


def main() -> dict[str, Any]:
    return uvloop.run(_run())
