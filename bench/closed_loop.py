"""The closed loop every load generator of bench/ runs: `concurrency` workers each make one call
after another for `warmup + seconds`; only the calls after the warmup are timed. Returns calls,
errors, rps, p50/p99 ms and, given the server's pid, its CPU µs per call over the timed window."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

from bench import cpu


async def closed_loop(
    one: Callable[[], Awaitable[bool]],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    cpu_pid: int = 0,
    failures: tuple[type[BaseException], ...] = (Exception,),
) -> dict[str, float]:
    """`one()` makes a call and says whether it succeeded; raising one of `failures` counts as a
    failed call too (anything else stops the run)."""
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
                ok = await one()
            except failures:
                ok = False
            if not ok:
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
