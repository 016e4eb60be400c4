"""What one HTTP client may hold on the HTTP port: uvicorn's protocol with deadlines it lacks.

uvicorn bounds idle keep-alive connections and, with `limit_concurrency`, answers 503 once a
request's headers are in; but a connection that never finishes its headers (or its body) is held
for ever, each one a file descriptor of the process the gRPC port and the database pool share.
This protocol closes a connection beyond `max_connections` at once, answers 408 and closes when
the headers are not complete within `header_timeout_s` of the first byte (or of the connection),
closes one whose body has not arrived within `body_timeout_s` of its headers, and answers 431
to headers larger than `max_header_bytes`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_connections: int = 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 120.0
    max_header_bytes: int = 64 * 1024
    keepalive_s: float = 15.0


def _reply(status: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
        b"content-length: " + str(len(text)).encode() + b"\r\n\r\n" + text
    )


_TIMEOUT = _reply(b"408 Request Timeout", b"request headers not received in time\n")
_TOO_LARGE = _reply(b"431 Request Header Fields Too Large", b"request headers too large\n")


def guarded_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """An HttpToolsProtocol class enforcing `limits` (uvicorn builds one per connection)."""

    class GuardedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._awaiting_headers = True
            self._header_bytes = 0
            self._parsed_header_bytes = 0
            self._too_large = False
            self._body_done = False
            self._deadline: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float, reply: bytes) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expire, reply)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self, reply: bytes) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            if reply and (self.cycle is None or self.cycle.response_complete or self._awaiting_headers):
                self.transport.write(reply)
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.abort()
                return
            self._arm(limits.header_timeout_s, _TIMEOUT)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if not self._awaiting_headers:
                super().data_received(data)
                return
            if self._deadline is None:  # a kept-alive connection's next request starts
                self._arm(limits.header_timeout_s, _TIMEOUT)
            super().data_received(data)
            if self._awaiting_headers and not self.transport.is_closing():
                # Counted only while the headers are still incomplete after this chunk, so a body
                # arriving in the same packets as its headers is not mistaken for them.
                self._header_bytes += len(data)
                if self._header_bytes > limits.max_header_bytes:
                    self._disarm()
                    self.transport.write(_TOO_LARGE)
                    self.transport.close()

        def _count(self, n: int) -> None:
            self._parsed_header_bytes += n
            if self._parsed_header_bytes > limits.max_header_bytes:
                self._too_large = True
                # The parser turns this into an invalid request: uvicorn answers through
                # send_400_response, which says 431 instead.
                raise ValueError("request headers too large")

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def send_400_response(self, msg: str) -> None:
            if not self._too_large:
                super().send_400_response(msg)
                return
            self._disarm()
            self.transport.write(_TOO_LARGE)
            self.transport.close()

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._body_done = False
            self._arm(limits.body_timeout_s, b"")
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._disarm()
            self._body_done = True
            if self.cycle is not None and self.cycle.response_complete:
                self._next_request()
            super().on_message_complete()

        def on_response_complete(self) -> None:
            # An early answer (a refusal) can complete before its request's body has arrived:
            # the rest of that body is not the next request's headers.
            if self._body_done:
                self._next_request()
            super().on_response_complete()

        def _next_request(self) -> None:
            self._awaiting_headers = True
            self._header_bytes = self._parsed_header_bytes = 0

    return GuardedProtocol
