"""A closed-loop gRPC load generator run in its own process (so it does not share the server's
event loop): `concurrency` workers each issue one unary call after another for `seconds`.

    python -m bench.load TARGET METHOD REQUEST_HEX --concurrency 16 --seconds 5

METHOD is a full method path (/pkg.Service/Method), REQUEST_HEX the serialized request. Prints
JSON: calls, errors, rps, p50/p99 latency in ms; with --cpu-pid PID also the CPU µs that process
(the server) used per call over the measured window."""

from __future__ import annotations

import argparse
import json

import grpc

from bench import cpu
from bench.closed_loop import closed_loop


async def run(
    target: str, method: str, request: bytes, concurrency: int, seconds: float, warmup: float, cpu_pid: int = 0
) -> dict[str, float]:
    async with grpc.aio.insecure_channel(target) as channel:
        call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(method)

        async def one() -> bool:
            await call(request, timeout=10)
            return True

        return await closed_loop(
            one, concurrency=concurrency, seconds=seconds, warmup=warmup, cpu_pid=cpu_pid, failures=(grpc.RpcError,)
        )


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
