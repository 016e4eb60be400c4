"""Listening ports that belong to one server.

grpc sets SO_REUSEPORT on its listeners by default, and so would a naive HTTP server: then a
second server on a taken port binds silently and the kernel splits connections between two
processes that may sit on two different databases. Every listener here binds exclusively, except
the workers of one `serve --workers N`, whose supervisor checks the ports are free first.
"""

from __future__ import annotations

import errno
import socket

# A listener refused because its port is taken (used by `serve` and `make run` as the exit code).
EXIT_PORT_IN_USE = 4


class PortInUse(OSError):
    def __init__(self, what: str, listen: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE, f"{what} port {port} ({listen}) is already in use by another process; choose another port"
        )
        self.what = what
        self.listen = listen
        self.port = port

    def __str__(self) -> str:
        return str(self.strerror)


def split(listen: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (every interface)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"not a host:port address: {listen!r}")
    return host.strip("[]"), int(port)


def check_free(listen: str, what: str) -> None:
    """Raises PortInUse when something already listens on `listen`'s port at one of the addresses
    it resolves to. Port 0 (any free port) always passes. SO_REUSEADDR lets the probe ignore
    connections lingering in TIME_WAIT, never a listening socket."""
    host, port = split(listen)
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return  # the server's own bind reports an unknown host
    for family, kind, proto, _, addr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # What grpc does for [::]: one dual-stack socket, so an IPv4 listener counts too.
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                probe.bind(addr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUse(what, listen, port) from None
                # EADDRNOTAVAIL and the like (no ::1 here, say) are left to the real bind.
