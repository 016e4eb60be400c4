"""The HTTP port: every artimeta RPC over Connect (JSON and binary) and gRPC-Web, an HTTP health
check for probes, and the read-only web console, served by uvicorn in the gRPC server's event loop
(one process, one asyncpg pool, one blob store)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import logging
import os
import socket
import ssl
import urllib.parse
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

from artimeta_server.domain.errors import DomainError
from artimeta_server.ports import PortInUse
from artimeta_server.rpc.errors import describe
from artimeta_server.rpc.http_limits import HttpLimits, guarded_protocol

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


# Connect's HTTP status for each code a refusal before the body can carry.
_HTTP_STATUS = {"UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503}

Authenticate = Callable[[str, str], Awaitable[Any]]


class Router:
    """Dispatches /<package>.<Service>/<Method> straight to that service's Connect application by
    one dict lookup, an unknown RPC to a Connect `unimplemented` error, everything else to the
    Starlette app (health, console).

    With `authenticate` (auth on), an RPC's bearer token is verified from its headers before
    anything reads, decompresses or parses its body: an unauthenticated caller costs no more than
    its headers. Authorization, which needs the namespace inside the body, stays with the auth
    interceptor."""

    def __init__(
        self,
        methods: Mapping[str, ASGIApp],
        other: ASGIApp,
        *,
        authenticate: Authenticate | None = None,
        is_open: Callable[[str], bool] = lambda path: False,
    ) -> None:
        self._methods = dict(methods)
        self._other = other
        self._authenticate = authenticate
        self._open = {path for path in self._methods if is_open(path)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            app = self._methods.get(path)
            if app is not None:
                if self._authenticate is not None and path not in self._open:
                    refusal = await self._refusal(scope)
                    if refusal is not None:
                        await refusal(scope, receive, send)
                        return
                await app(scope, receive, send)
                return
            cut = path.find("/", 1)
            if cut > 0 and "." in path[1:cut]:
                await _unimplemented(path, send)
                return
        await self._other(scope, receive, send)

    async def _refusal(self, scope: Scope) -> ASGIApp | None:
        assert self._authenticate is not None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        scheme, _, token = headers.get("authorization", "").partition(" ")
        client = scope.get("client")
        try:
            await self._authenticate(token.strip() if scheme.lower() == "bearer" else "", client[0] if client else "")
        except DomainError as exc:
            return _refused(exc, headers.get("content-type", ""))
        return None


def _refused(exc: DomainError, content_type: str) -> ASGIApp:
    """The error response a Connect or gRPC-Web client expects, with the same google.rpc.Status
    (ErrorInfo reason) the interceptors would have sent. The connection stays open: the body that
    follows is skipped by the parser unbuffered (and cut off by the body timeout), where closing
    now would reset the connection under the client before it reads this answer."""
    code, status = describe(exc, None)
    if content_type.startswith("application/grpc-web"):
        # A trailers-only response: the status travels in the headers.
        return Response(
            status_code=200,
            media_type=content_type,
            headers={
                "grpc-status": str(code.value[0]),
                "grpc-message": urllib.parse.quote(status.message, safe=" "),
                "grpc-status-details-bin": base64.b64encode(status.SerializeToString()).decode().rstrip("="),
            },
        )
    details = [
        {"type": d.type_url.rpartition("/")[2], "value": base64.b64encode(d.value).decode().rstrip("=")}
        for d in status.details
    ]
    return JSONResponse(
        {"code": code.name.lower(), "message": status.message, "details": details},
        status_code=_HTTP_STATUS.get(code.name, 400),
    )


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
    info: Callable[[str, str], Awaitable[dict[str, Any]]],
    *,
    authenticate: Authenticate | None = None,
    is_open: Callable[[str], bool] = lambda path: False,
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
        peer = request.client.host if request.client else ""
        return JSONResponse(
            await info(request.headers.get("authorization", ""), peer), headers={"cache-control": "no-store"}
        )

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
    return Router(methods, app, authenticate=authenticate, is_open=is_open)


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
        limits: HttpLimits | None = None,
        share_port: bool = False,
    ) -> None:
        self._app = app
        self._limits = limits or HttpLimits()
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
            http=guarded_protocol(self._limits),
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=int(self._graceful_s) or 1,
            timeout_keep_alive=int(self._limits.keepalive_s) or 1,
            # Connections beyond the limit are closed by the protocol; this 503s the requests
            # beyond it that arrive on connections already open (pipelined, kept alive).
            limit_concurrency=self._limits.max_connections + 1,
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
