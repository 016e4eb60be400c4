"""A loopback TCP proxy that loses the reply of a call the server has already committed.

It forwards bytes both ways and reads the HTTP/2 frame headers as they pass (gRPC runs over
HTTP/2; frames are a 9-byte header, length-prefixed). Armed with `drop_reply(n)`, it counts the
calls that start after arming (a HEADERS frame from the client on a stream id it has not seen),
and when the server sends its first HEADERS or DATA frame on the n-th one, it closes both sides of
the connection instead of forwarding that frame. A grpc server sends a unary call's response
headers only once its handler has returned, so at that point the work is committed and the
client has seen nothing of the answer: its call fails UNAVAILABLE and its retry policy decides
what happens next. Later connections pass untouched until it is armed again.

It runs its own event loop in a thread, so blocking clients and other processes (the Go
conformance test) can use it as well as asyncio ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS = 0x0, 0x1


class _Frames:
    """Splits a byte stream into whole HTTP/2 frames: (type, stream id, raw bytes)."""

    def __init__(self, preface: bool) -> None:
        self._buf = b""
        self._preface = preface

    def feed(self, data: bytes) -> Iterator[tuple[int | None, int, bytes]]:
        self._buf += data
        if self._preface:
            if len(self._buf) < len(PREFACE):
                return
            yield None, 0, self._buf[: len(PREFACE)]
            self._buf = self._buf[len(PREFACE) :]
            self._preface = False
        while len(self._buf) >= 9:
            length = int.from_bytes(self._buf[:3], "big")
            if len(self._buf) < 9 + length:
                return
            kind = self._buf[3]
            stream = int.from_bytes(self._buf[5:9], "big") & 0x7FFFFFFF
            frame, self._buf = self._buf[: 9 + length], self._buf[9 + length :]
            yield kind, stream, frame


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self._upstream = (host or "127.0.0.1", int(port))
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy", daemon=True)
        self._lock = threading.Lock()
        self._countdown = 0  # calls still to pass before the one whose reply is dropped; 0 = disarmed
        self._alternate = False  # lose the reply of every other call (the 1st, 3rd, ... from arming)
        self._parity = 0
        self.dropped = 0  # replies dropped so far
        self.calls = 0  # calls seen so far
        self.port = 0

    def start(self) -> FaultProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def drop_reply(self, n: int = 1) -> None:
        """Drop the connection when the server answers the n-th call from now on."""
        with self._lock:
            self._countdown, self._alternate = n, False

    def drop_every_other_reply(self) -> None:
        """Lose the reply of the 1st, 3rd, 5th ... call from now on: with a client that retries at
        once, each logical call's first attempt is committed and its answer lost. For a client in
        another process, which cannot arm the proxy call by call."""
        with self._lock:
            self._alternate, self._parity = True, 0

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_w.close()
            return
        seen: set[int] = set()
        doomed: set[int] = set()  # streams whose reply is to be lost
        cut = asyncio.Event()

        def close_all() -> None:
            cut.set()
            for w in (client_w, server_w):
                with contextlib.suppress(Exception):
                    w.transport.abort()

        async def upstream() -> None:
            frames = _Frames(preface=True)
            while data := await client_r.read(65536):
                for kind, stream, frame in frames.feed(data):
                    if kind == HEADERS and stream % 2 == 1 and stream not in seen:
                        seen.add(stream)
                        with self._lock:
                            self.calls += 1
                            if self._alternate:
                                self._parity ^= 1
                                if self._parity:
                                    doomed.add(stream)
                            elif self._countdown > 0:
                                self._countdown -= 1
                                if self._countdown == 0:
                                    doomed.add(stream)
                    server_w.write(frame)
                await server_w.drain()
            server_w.close()

        async def downstream() -> None:
            frames = _Frames(preface=False)
            while data := await server_r.read(65536):
                for kind, stream, frame in frames.feed(data):
                    if kind in (HEADERS, DATA) and stream in doomed:
                        with self._lock:
                            self.dropped += 1
                        close_all()
                        return
                    client_w.write(frame)
                await client_w.drain()
            client_w.close()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if cut.is_set():
                return
            await asyncio.wait(tasks)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for t in tasks:
                t.cancel()
                if t.done() and not t.cancelled():
                    t.exception()  # a reset connection: expected, and reported by the client
            close_all()
