"""A closed-loop gRPC load generator run in its own process (so it does not share the server's
event loop): `concurrency` workers each issue one unary call after another for `seconds`.

    python -m bench.load TARGET METHOD REQUEST_HEX --concurrency 16 --seconds 5

METHOD is a full method path (/pkg.Service/Method), REQUEST_HEX the serialized request. Prints
JSON: calls, errors, rps, p50/p99 latency in ms; with --cpu-pid PID also the CPU µs that process
(the server) used per call over the measured window."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import grpc

from bench import cpu


async def run(
    target: str, method: str, request: bytes, concurrency: int, seconds: float, warmup: float, cpu_pid: int = 0
) -> dict[str, float]:
    async with grpc.aio.insecure_channel(target) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)
        latencies: list[float] = []
        errors = 0
        measuring = False
        stop_at = time.perf_counter() + warmup + seconds

        async def worker() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    await call(request, timeout=10)
                except grpc.RpcError:
                    errors += 1
                    continue
                if measuring:
                    latencies.append(time.perf_counter() - t0)

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        cpu_start = cpu.cpu_s(cpu_pid) if cpu_pid else 0.0
        t_start = time.perf_counter()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t_start
        server_cpu = cpu.cpu_s(cpu_pid) - cpu_start if cpu_pid else 0.0
    latencies.sort()
    n = len(latencies)
    return {
        "calls": n,
        "errors": errors,
        "rps": round(n / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(statistics.median(latencies) * 1000, 3) if n else 0.0,
        "p99_ms": round(latencies[min(n - 1, int(n * 0.99))] * 1000, 3) if n else 0.0,
        **({"server_cpu_us_per_rpc": cpu.us_per_call(server_cpu, n)} if cpu_pid else {}),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("method")
    p.add_argument("request_hex")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--cpu-pid", type=int, default=0)
    a = p.parse_args()
    import uvloop

    cpu.pin_load()
    result = uvloop.run(
        run(a.target, a.method, bytes.fromhex(a.request_hex), a.concurrency, a.seconds, a.warmup, a.cpu_pid)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
