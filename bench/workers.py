"""Read RPC/s (GetNamespace) of `artimeta-server serve` with 1 and with 2 worker processes on one
port (SO_REUSEPORT), at concurrency 16, beside the ceiling measured in the same run: a bare
grpc.aio echo server (uvloop) driven by the same load generator.

The load generator is two processes of grpc.aio clients (8 calls in flight each, spread over 4
channels per process so the kernel can spread connections over the workers). It shares the 2
cores with the server, so the numbers are what one machine does end to end, not a server-only
ceiling. The server runs as in production: token auth on (a reader token), JSON request logs.

`python -m bench workers` (env BENCH_SECONDS per point, default 4; BENCH_ROUNDS, default 3).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench import cpu
from bench.ceilings import new_stack, stop

CONCURRENCY = 16
LOADERS = 2
CHANNELS_PER_LOADER = 4
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
# The points are measured in alternating rounds and the median kept: the machine is shared.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARMUP_S = 1.0

_BARE = {"ARTIMETA_AUTH": "disabled", "ARTIMETA_LOG_REQUESTS": "false"}

_ECHO = """
import asyncio, sys, grpc, uvloop
async def echo(request, context):
    return request
async def main():
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "bench.Echo", {"Call": grpc.unary_unary_rpc_method_handler(echo)}),))
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    await server.start()
    await server.wait_for_termination()
uvloop.run(main())
"""


def _loader(target: str, method: str, payload: bytes, token: str, seconds: float, out: Any) -> None:
    import grpc
    import uvloop

    cpu.pin_load()

    async def run() -> None:
        channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS_PER_LOADER)]
        calls: list[grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = [ch.unary_unary(method) for ch in channels]
        md = (("authorization", f"Bearer {token}"),) if token else None
        count = 0
        total = 0
        errors = 0
        lat: list[float] = []
        stop_at = time.perf_counter() + WARMUP_S + seconds
        measure_from = time.perf_counter() + WARMUP_S

        async def worker(i: int) -> None:
            nonlocal count, errors, total
            call = calls[i % len(calls)]
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    await call(payload, metadata=md, timeout=10)
                except grpc.aio.AioRpcError:
                    errors += 1
                    continue
                total += 1
                if t0 >= measure_from:
                    count += 1
                    if count % 8 == 0:
                        lat.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(i) for i in range(CONCURRENCY // LOADERS)))
        for ch in channels:
            await ch.close()
        out.put({"count": count, "total": total, "errors": errors, "lat": lat})

    uvloop.run(run())


def _drive(target: str, method: str, payload: bytes, token: str = "", server_pid: int | None = None) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_loader, args=(target, method, payload, token, SECONDS, q)) for _ in range(LOADERS)]
    cpu_before = cpu.cpu_s(server_pid) if server_pid else 0.0
    for p in procs:
        p.start()
    parts = [q.get(timeout=SECONDS + 60) for _ in procs]
    cpu_after = cpu.cpu_s(server_pid) if server_pid else 0.0
    for p in procs:
        p.join()
    count = sum(p["count"] for p in parts)
    total = sum(p["total"] for p in parts)
    lat = sorted(x for p in parts for x in p["lat"])
    return {
        # Less sensitive to a busy machine than RPC/s: what one RPC costs the server processes.
        "server_cpu_us_per_rpc": round((cpu_after - cpu_before) / total * 1e6) if server_pid and total else None,
        "rpc_per_s": round(count / SECONDS),
        "errors": sum(p["errors"] for p in parts),
        "p50_ms": round(statistics.median(lat) * 1000, 3) if lat else None,
        "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 3) if lat else None,
    }


def _wait_ready(target: str, proc: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    import grpc

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {target} exited with {proc.returncode}")
        try:
            with grpc.insecure_channel(target) as ch:
                grpc.channel_ready_future(ch).result(timeout=1)
            return
        except grpc.FutureTimeoutError:
            continue
    raise TimeoutError(target)


def main() -> dict[str, Any]:
    import uvloop

    from artimeta.v1 import namespace_pb2 as pb
    from artimeta_server.devstack.procs import free_port
    from artimeta_server.domain.auth.models import Role
    from artimeta_server.domain.auth.service import Tokens
    from artimeta_server.storage import migrate
    from artimeta_server.storage.auth.repository import PostgresTokens
    from artimeta_server.storage.postgres import Database

    stack = new_stack(durable=False)
    stack.start()
    result: dict[str, Any] = {
        "benchmark": "workers",
        "rpc": "NamespaceService/GetNamespace",
        "concurrency": CONCURRENCY,
        "seconds_per_point": SECONDS,
        "machine": cpu.machine(),
        "load_generator": f"{LOADERS} grpc.aio client processes x {CONCURRENCY // LOADERS} in flight",
    }
    try:
        env = {
            **os.environ,
            **stack.env(),
            "ARTIMETA_AUTH": "tokens",
            "ARTIMETA_LOG_JSON": "true",
            "ARTIMETA_LOG_LEVEL": "INFO",
        }
        name = "bench-workers"

        async def prepare() -> str:
            await migrate.migrate(env["ARTIMETA_DATABASE_URL"])
            db = Database(
                env["ARTIMETA_DATABASE_URL"], min_size=0, max_size=1, acquire_timeout_s=5, statement_timeout_s=30
            )
            await db.open()
            try:
                async with db.connection() as conn:
                    await conn.execute("INSERT INTO namespaces (name) VALUES ($1) ON CONFLICT DO NOTHING", name)
                return (await Tokens(PostgresTokens(db)).create(name, Role.READER)).token
            finally:
                await db.close()

        token = uvloop.run(prepare())
        request = pb.GetNamespaceRequest(name=name).SerializeToString()

        def echo_point() -> dict[str, Any]:
            port = free_port()
            echo = subprocess.Popen([sys.executable, "-c", _ECHO, str(port)], preexec_fn=cpu.server_preexec())
            try:
                _wait_ready(f"127.0.0.1:{port}", echo)
                return _drive(f"127.0.0.1:{port}", "/bench.Echo/Call", request, server_pid=echo.pid)
            finally:
                stop(echo)

        def server_point(workers: int, extra: dict[str, str]) -> dict[str, Any]:
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "artimeta_server", "serve", "--workers", str(workers)],
                env={**env, **extra, "ARTIMETA_LISTEN": f"127.0.0.1:{port}"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Pinned, every worker shares the one server core: the figure is then per core.
                preexec_fn=cpu.server_preexec(),
            )
            try:
                _wait_ready(f"127.0.0.1:{port}", server)
                time.sleep(0.5 * workers)  # every worker bound and warm
                return _drive(
                    f"127.0.0.1:{port}", "/artimeta.v1.NamespaceService/GetNamespace", request, token, server.pid
                )
            finally:
                stop(server)

        # The last point shows what token auth and request logs cost on one worker.
        points: dict[str, Any] = {
            "ceiling_echo_1_process": echo_point,
            "workers_1": lambda: server_point(1, {}),
            "workers_2": lambda: server_point(2, {}),
            "workers_1_no_auth_no_logs": lambda: server_point(1, _BARE),
        }
        rounds: dict[str, list[dict[str, Any]]] = {key: [] for key in points}
        for _ in range(ROUNDS):
            for key, measure in points.items():
                rounds[key].append(measure())
        for key, runs in rounds.items():
            ordered = sorted(runs, key=lambda r: r["rpc_per_s"])
            result[key] = {**ordered[len(ordered) // 2], "rounds_rpc_per_s": [r["rpc_per_s"] for r in runs]}
        one, two = result["workers_1"]["rpc_per_s"], result["workers_2"]["rpc_per_s"]
        result["ratio_2_over_1"] = round(two / one, 2) if one else None
        result["workers_1_vs_echo_ceiling"] = round(one / result["ceiling_echo_1_process"]["rpc_per_s"], 2)
    finally:
        stack.remove()
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
