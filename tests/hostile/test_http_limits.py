"""The HTTP port under slow and hostile clients (all on 127.0.0.1, bounded in count and time):
half-sent headers and stalled bodies are cut off by the server, connections beyond the limit are
closed at once, an unauthenticated body is refused from its headers alone, and a gzip bomb is
decompressed no further than the message limit. While each attack runs, `/healthz` and a gRPC
call are measured (figures printed; asserted only to be served)."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import statistics
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from artimeta.v1 import namespace_pb2, namespace_pb2_grpc
from artimeta_server.devstack.stack import Stack
from artimeta_server.domain.auth.models import Role
from artimeta_server.server import Server
from tests.conftest import settings_for, unique_name
from tests.hostile import rawhttp
from tests.hostile.conftest import make_namespace, mint

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0
MAX_MESSAGE = 4 * 1024 * 1024


async def _server(stack: Stack, **kw: object) -> Server:
    srv = Server(
        settings_for(
            stack,
            auth="tokens",
            http_listen="127.0.0.1:0",
            max_message_bytes=MAX_MESSAGE,
            http_header_timeout_s=HEADER_TIMEOUT_S,
            http_body_timeout_s=BODY_TIMEOUT_S,
            **kw,
        )
    )
    await srv.start(migrate_schema=True)
    return srv


@pytest.fixture(scope="module")
async def limited(stack: Stack) -> AsyncIterator[tuple[Server, str, str]]:
    srv = await _server(stack)
    ns = unique_name("http")
    await make_namespace(srv, ns)
    yield srv, ns, await mint(srv, ns, Role.READER)
    await srv.stop(0.5)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _p99(xs: list[float]) -> float:
    return sorted(xs)[max(0, math.ceil(len(xs) * 0.99) - 1)]


class Probe:
    """Measures /healthz (a fresh connection each time) and a gRPC GetNamespace until stopped."""

    def __init__(self, srv: Server, ns: str, token: str) -> None:
        self.srv, self.ns, self.token = srv, ns, token
        self.healthz_ms: list[float] = []
        self.grpc_ms: list[float] = []
        self.healthz_failed = 0
        self._stop = asyncio.Event()

    async def _healthz(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                reply = await rawhttp.request(self.srv.http_port, "GET", "/healthz", timeout=10)
                assert reply.status == 200
                self.healthz_ms.append((time.perf_counter() - t0) * 1000)
            except (OSError, TimeoutError, AssertionError):
                self.healthz_failed += 1
            await asyncio.sleep(0.02)

    async def _grpc(self) -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{self.srv.port}") as channel:
            stub = namespace_pb2_grpc.NamespaceServiceStub(channel)
            md = (("authorization", f"Bearer {self.token}"),)
            while not self._stop.is_set():
                t0 = time.perf_counter()
                await stub.GetNamespace(namespace_pb2.GetNamespaceRequest(name=self.ns), metadata=md, timeout=20)
                self.grpc_ms.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.02)

    async def during(self, attack: Callable[[], Awaitable[None]]) -> None:
        tasks = [asyncio.create_task(self._healthz()), asyncio.create_task(self._grpc())]
        try:
            await attack()
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)

    def summary(self) -> str:
        h, g = self.healthz_ms, self.grpc_ms
        return (
            f"/healthz {len(h)} ok ({self.healthz_failed} failed) p50 {statistics.median(h):.1f} ms "
            f"p99 {_p99(h):.1f} ms; gRPC GetNamespace {len(g)} p50 {statistics.median(g):.1f} ms p99 {_p99(g):.1f} ms"
        )


async def _held_until_closed(port: int, first_bytes: bytes) -> tuple[float, bytes]:
    """Opens a connection, sends `first_bytes` and stalls; returns when the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    t0 = time.perf_counter()
    try:
        if first_bytes:
            writer.write(first_bytes)
            await writer.drain()
        got = await asyncio.wait_for(reader.read(-1), 30)
        return time.perf_counter() - t0, got
    finally:
        writer.close()


async def test_slow_clients_are_cut_off_and_others_served(
    limited: tuple[Server, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    srv, ns, token = limited
    port = srv.http_port
    half_headers = b"POST /artimeta.v1.NamespaceService/GetNamespace HTTP/1.1\r\nhost: x\r\nx-slow: "
    stalled_body = (
        b"POST /healthz HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"
    )
    results: list[tuple[float, bytes]] = []
    rss0 = _rss_mb()

    async def attack() -> None:
        kinds = [b""] * 50 + [half_headers] * 200 + [stalled_body] * 50  # 300 connections
        results.extend(await asyncio.gather(*(_held_until_closed(port, k) for k in kinds)))

    probe = Probe(srv, ns, token)
    t0 = time.perf_counter()
    await probe.during(attack)
    took = time.perf_counter() - t0
    assert len(results) == 300
    # Every stalled connection was closed by the server (none was held until our 30 s give-up),
    # half-sent headers with a 408.
    assert max(t for t, _ in results) < HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 15
    assert all(got.startswith(b"HTTP/1.1 408") for (_, got) in results[50:250])
    assert probe.healthz_ms and probe.grpc_ms, "served while under attack"
    with capsys.disabled():
        print(
            f"\nslow clients: 300 stalled connections all closed within {max(t for t, _ in results):.1f} s "
            f"(header timeout {HEADER_TIMEOUT_S} s, body {BODY_TIMEOUT_S} s; attack {took:.1f} s; "
            f"RSS {rss0:.0f} -> {_rss_mb():.0f} MB); {probe.summary()}"
        )


async def test_oversized_headers_are_refused(limited: tuple[Server, str, str]) -> None:
    srv, _, _ = limited
    big = b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + b"x-pad: " + b"a" * (80 * 1024) + b"\r\n\r\n"
    _, got = await _held_until_closed(srv.http_port, big)
    assert got.startswith(b"HTTP/1.1 431")


async def test_connections_beyond_the_limit_are_closed_at_once(stack: Stack) -> None:
    srv = await _server(stack, http_max_connections=40)
    try:
        conns = [await asyncio.open_connection("127.0.0.1", srv.http_port) for _ in range(100)]
        await asyncio.sleep(0.5)
        closed = 0
        for reader, _ in conns:
            try:
                got = await asyncio.wait_for(reader.read(1), 0.05)
                closed += got == b""
            except TimeoutError:
                pass
            except ConnectionResetError:
                closed += 1
        for _, writer in conns:
            writer.close()
        assert closed >= 55, f"only {closed} of 100 connections beyond a limit of 40 were closed"
        # Once they are gone, the port serves again.
        reply = await rawhttp.request(srv.http_port, "GET", "/healthz")
        assert reply.status == 200
    finally:
        await srv.stop(0.5)


def _gzip_bomb(decompressed: int) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [c.compress(chunk) for _ in range(decompressed >> 20)]
    return b"".join(parts) + c.flush()


async def test_gzip_bomb_and_unauthenticated_bodies(
    limited: tuple[Server, str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    srv, ns, token = limited
    bomb = _gzip_bomb(256 << 20)  # 256 MiB of JSON whitespace in ~250 KB
    path = "/artimeta.v1.NamespaceService/GetNamespace"
    gz = {"content-type": "application/json", "content-encoding": "gzip"}
    rss0 = _rss_mb()
    # Without a token: refused from the headers, the body never decompressed.
    anonymous = await rawhttp.request(srv.http_port, "POST", path, headers=gz, body=bomb)
    assert anonymous.status == 401 and anonymous.json()["code"] == "unauthenticated"
    web = await rawhttp.request(
        srv.http_port, "POST", path, headers={"content-type": "application/grpc-web+proto"}, body=b"\0\0\0\0\0"
    )
    assert web.status == 200 and web.headers.get("grpc-status") == "16"
    raw = web.headers["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert info.reason == "TOKEN_MISSING"
    # With a token: decompressed up to the message limit, then RESOURCE_EXHAUSTED.
    codes: list[str] = []

    async def attack() -> None:
        async def one() -> None:
            reply = await rawhttp.request(
                srv.http_port, "POST", path, headers={**gz, "authorization": f"Bearer {token}"}, body=bomb
            )
            codes.append(json.loads(reply.body)["code"])

        await asyncio.gather(*(one() for _ in range(20)))

    probe = Probe(srv, ns, token)
    await probe.during(attack)
    grown = _rss_mb() - rss0
    assert codes == ["resource_exhausted"] * 20
    assert grown < 200, f"RSS grew {grown:.0f} MB under 20 bombs of 256 MiB"
    # The port still answers a well-formed call afterwards.
    ok = await rawhttp.connect_call(srv.http_port, path, {"name": ns}, token=token)
    assert ok.status == 200 and ok.json()["namespace"]["name"] == ns
    with capsys.disabled():
        print(
            f"\ngzip bomb: {len(bomb) // 1024} KB expanding to 256 MiB, 20 concurrent with a token: "
            f"{set(codes)}; RSS +{grown:.0f} MB; {probe.summary()}"
        )
