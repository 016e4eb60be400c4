"""A minimal HTTP/1.1 client over asyncio streams, for tests that must control every byte (half-sent
requests, bomb bodies) or the source address (127.0.0.x). One request per connection."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    source: str = "127.0.0.1",
    timeout: float = 30.0,
) -> Reply:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        # Kept alive: the answer is read by its length, so a server that answers before reading
        # the whole body (an early refusal) is not mistaken for a reset connection.
        head = {"host": f"127.0.0.1:{port}", "content-length": str(len(body))}
        head.update({k.lower(): v for k, v in (headers or {}).items()})
        lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
        writer.write("\r\n".join(lines).encode() + body)
        top = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout))[:-4]
        first, *header_lines = top.decode("latin-1").split("\r\n")
        got = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
        if "content-length" in got:
            rest = await asyncio.wait_for(reader.readexactly(int(got["content-length"])), timeout)
        else:
            rest = await asyncio.wait_for(_read_chunked(reader), timeout)
    finally:
        writer.close()
    return Reply(int(first.split()[1]), got, rest)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = b""
    while True:
        size = int((await reader.readline()).strip() or b"0", 16)
        if size == 0:
            await reader.readline()
            return out
        out += await reader.readexactly(size)
        await reader.readline()


async def connect_call(
    port: int, path: str, message: dict[str, Any], *, token: str | None = None, source: str = "127.0.0.1"
) -> Reply:
    """A Connect unary call with a JSON body."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return await request(port, "POST", path, headers=headers, body=json.dumps(message).encode(), source=source)
