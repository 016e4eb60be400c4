"""The HTTP port: every artimeta RPC over Connect (JSON and binary) and gRPC-Web, an HTTP health
check for probes, and the read-only web console, served by uvicorn in the gRPC server's event loop
(one process, one asyncpg pool, one blob store)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from artimeta_server.ports import PortInUse

log = logging.getLogger("artimeta.http")

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"

# Same origin only: the console loads nothing from anywhere else and talks only to this port.
_CONSOLE_HEADERS = {
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"expected host:port, got {listen!r}")
    return host.strip("[]"), int(port)


class Router:
    """Dispatches /<package>.<Service>/<Method> straight to that service's Connect application by
    one dict lookup, an unknown RPC to a Connect `unimplemented` error, everything else to the
    Starlette app (health, console)."""

    def __init__(self, methods: Mapping[str, ASGIApp], other: ASGIApp) -> None:
        self._methods = dict(methods)
        self._other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            app = self._methods.get(path)
            if app is not None:
                await app(scope, receive, send)
                return
            cut = path.find("/", 1)
            if cut > 0 and "." in path[1:cut]:
                await _unimplemented(path, send)
                return
        await self._other(scope, receive, send)


async def _unimplemented(path: str, send: Send) -> None:
    body = json.dumps({"code": "unimplemented", "message": f"no such RPC: {path}"}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def site(
    methods: Mapping[str, ASGIApp],
    is_serving: Callable[[str], bool | None],
    info: Callable[[str], Awaitable[dict[str, Any]]],
) -> Router:
    async def healthz(request: Request) -> Response:
        # ?service=artimeta.v1.NamespaceService mirrors grpc.health.v1 Check; 503 lets probes act on it.
        service = request.query_params.get("service", "")
        serving = is_serving(service)
        if serving is None:
            return JSONResponse({"status": "SERVICE_UNKNOWN", "service": service}, status_code=404)
        return JSONResponse(
            {"status": "SERVING" if serving else "NOT_SERVING", "service": service},
            status_code=200 if serving else 503,
            headers={"cache-control": "no-store"},
        )

    async def server_info(request: Request) -> Response:
        # The figures are for token holders when auth is on (the caller decides from the header).
        return JSONResponse(await info(request.headers.get("authorization", "")), headers={"cache-control": "no-store"})

    async def console(request: Request) -> Response:
        # Every console URL answers with the same page; the page's router draws the view, so deep
        # links and the back button work.
        return FileResponse(CONSOLE_DIR / "index.html", headers={**_CONSOLE_HEADERS, "cache-control": "no-cache"})

    async def root(request: Request) -> Response:
        return RedirectResponse("/console/", status_code=302)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/console/info.json", server_info, methods=["GET"]),
            Route("/", root, methods=["GET", "HEAD"]),
            Route("/console", root, methods=["GET", "HEAD"]),
            Route("/console/{rest:path}", console, methods=["GET", "HEAD"]),
            Mount("/assets", StaticFiles(directory=CONSOLE_DIR / "assets"), name="assets"),
        ]
    )
    return Router(methods, app)


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside a running loop: the process's own signal handling stays in charge (uvicorn
    would otherwise install handlers and re-raise SIGTERM once it has stopped)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ReloadingTLS:
    """The HTTP port's TLS from the same files as the gRPC port's, re-read when they change: each
    handshake checks the files' mtime and size (cheap) and switches to a fresh context when they
    moved; a half-written pair is ignored and the previous context kept."""

    def __init__(self, cert_file: str, key_file: str, client_ca_file: str = "") -> None:
        self._files = (cert_file, key_file, client_ca_file)
        self._stamp = self._stamps()
        self.context = self._make()

    def _stamps(self) -> tuple[tuple[int, int], ...]:
        return tuple((st.st_mtime_ns, st.st_size) for st in (os.stat(f) for f in self._files if f))

    def _make(self) -> ssl.SSLContext:
        cert, key, ca = self._files
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        if ca:
            ctx.load_verify_locations(ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.set_alpn_protocols(["http/1.1"])
        ctx.sni_callback = self._on_hello
        return ctx

    def _on_hello(self, sock: ssl.SSLObject, server_name: str | None, ctx: ssl.SSLContext) -> None:
        try:
            stamp = self._stamps()
            if stamp != self._stamp:
                self.context = self._make()
                self._stamp = stamp
                log.info("TLS certificate reloaded for the HTTP port")
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS files unreadable, keeping the previous certificate: %s", exc)
        if sock.context is not self.context:
            sock.context = self.context


class HttpServer:
    def __init__(
        self,
        app: ASGIApp,
        listen: str,
        *,
        graceful_s: float,
        tls: ReloadingTLS | None = None,
        share_port: bool = False,
    ) -> None:
        self._app = app
        self._share_port = share_port
        self._listen = listen
        self._graceful_s = graceful_s
        self._tls = tls
        self._server: _EmbeddedUvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None
        self.port = 0

    async def start(self) -> int:
        host, port = split_listen(self._listen)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self._share_port:  # only the workers of one `serve --workers N` (ports.py)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse("HTTP", self._listen, port) from None
            raise
        sock.listen(2048)
        sock.setblocking(False)
        self._sock = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            http="httptools",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=int(self._graceful_s) or 1,
            timeout_keep_alive=30,
        )
        config.load()
        if self._tls is not None:
            config.ssl = self._tls.context
        self._server = _EmbeddedUvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="artimeta-http")
        while not self._server.started:
            if self._task.done():
                await self._task
                raise OSError(f"the HTTP server did not start on {self._listen}")
            await asyncio.sleep(0.01)
        return self.port

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await self._task
            finally:
                self._server = None
                self._task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
