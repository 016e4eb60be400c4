"""An unauthenticated caller sends calls to 20,000 distinct random method paths: each is refused
with UNIMPLEMENTED, the server's resident memory stays on its plateau (nothing is kept per
unknown path), and the metrics count them all under one label value instead of one per path."""

from __future__ import annotations

import asyncio
import random
import string
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from artimeta_server.devstack.procs import free_port
from artimeta_server.devstack.stack import Stack
from tests.hostile.server_process import ServerProcess, mib, server_process

WARMUP = 2_000
CALLS = 20_000
# Long paths make whatever is kept per path easy to see: ≈ 500 bytes of path alone each.
PATH_CHARS = 240
# What 20,000 paths may add: allocator noise, not a record of every path (which was > 20 MiB).
MAX_GROWTH = 6 * 2**20


@pytest.fixture(scope="module")
def guarded(stack: Stack, venv_bin: Path, tmp_root: Path) -> Iterator[tuple[ServerProcess, int]]:
    metrics_port = free_port()
    with server_process(stack, venv_bin, tmp_root, auth="tokens", metrics_listen=f"127.0.0.1:{metrics_port}") as server:
        yield server, metrics_port


def random_paths(rng: random.Random, n: int) -> list[str]:
    letters = string.ascii_letters + string.digits
    out = []
    for i in range(n):
        word = "".join(rng.choices(letters, k=PATH_CHARS))
        # Unknown services, and unknown methods of a real service, in the artimeta package and outside.
        service = ("artimeta.v1.BlobService", f"artimeta.v1.{word[:40]}", f"x{word[:20]}.Svc")[i % 3]
        out.append(f"/{service}/{word}")
    return out


async def call_all(target: str, paths: list[str], concurrency: int = 32) -> dict[grpc.StatusCode, int]:
    codes: dict[grpc.StatusCode, int] = {}
    queue = iter(paths)

    async def worker(channel: grpc.aio.Channel) -> None:
        for path in queue:
            try:
                await channel.unary_unary(path)(b"", timeout=30)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
            codes[code] = codes.get(code, 0) + 1

    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.gather(*(worker(channel) for _ in range(concurrency)))
    return codes


def method_labels(metrics_port: int) -> dict[tuple[str, str, str], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "artimeta_rpc_handled_total":
                out[(s.labels["grpc_service"], s.labels["grpc_method"], s.labels["grpc_code"])] = s.value
    return out


async def test_random_unknown_methods_keep_memory_flat_and_collapse_to_one_label(
    guarded: tuple[ServerProcess, int],
) -> None:
    server, metrics_port = guarded
    rng = random.Random(9)
    assert await call_all(server.target, random_paths(rng, WARMUP)) == {grpc.StatusCode.UNIMPLEMENTED: WARMUP}
    before = server.rss_bytes()
    assert await call_all(server.target, random_paths(rng, CALLS)) == {grpc.StatusCode.UNIMPLEMENTED: CALLS}
    after = server.rss_bytes()
    print(f"unknown methods: RSS {mib(before)} -> {mib(after)} after {CALLS} paths (+{mib(after - before)})")
    assert after - before < MAX_GROWTH, f"RSS grew by {mib(after - before)} over {CALLS} unknown paths"

    labels = method_labels(metrics_port)
    assert labels.get(("unknown", "unknown", "UNIMPLEMENTED")) == WARMUP + CALLS
    # Only declared methods and the one "unknown" value: no label per random path.
    assert not [k for k in labels if len(k[1]) > 64 or len(k[0]) > 64]
