"""The servicers behind the Connect protocol (JSON and binary) and gRPC-Web.

Each service's ASGI application is generated from proto/ by protoc-gen-connectrpc
(artimeta.v1.<file>_connect). It is fed by the very method handlers that the gRPC server gets,
wrapped by the very interceptors the gRPC server runs (errors, and whatever else the server
installs, such as auth), so the same code answers both transports; a status a handler aborts with
leaves as the matching Connect code with the same google.rpc.Status details (ErrorInfo reason).

Each method's handler is wrapped once (rpc/interceptor.wrap_all, as the gRPC server's are):
interceptors decide per call inside the handlers they return.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import grpc
from connectrpc.code import Code
from connectrpc.compat import google_protobuf_binary_codec, google_protobuf_json_codec
from connectrpc.errors import ConnectError
from connectrpc.method import StreamType
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication
from google.protobuf import descriptor_pool
from google.rpc import status_pb2
from protobuf.wkt import Any as WireAny

from artimeta_server.rpc.errors import DETAILS_KEY, Translate, report
from artimeta_server.rpc.interceptor import WrappingInterceptor, wrap_all

AddToServer = Callable[[Any], None]
MethodHandlers = dict[str, "grpc.RpcMethodHandler[Any, Any]"]


class _Recorder:
    """Stands in for grpc.aio.Server while a generated add_*_to_server runs, keeping the handlers."""

    def __init__(self) -> None:
        self.services: dict[str, MethodHandlers] = {}

    def add_registered_method_handlers(self, service: str, handlers: MethodHandlers) -> None:
        self.services[service] = dict(handlers)

    def add_generic_rpc_handlers(self, handlers: Sequence[Any]) -> None:
        pass


def method_handlers(add: AddToServer) -> dict[str, MethodHandlers]:
    """The gRPC method handlers that `add` (one entry of app._servicers) registers, by service name."""
    recorder = _Recorder()
    add(recorder)
    return recorder.services


def connect_code(code: grpc.StatusCode) -> Code:
    if code is grpc.StatusCode.CANCELLED:
        return Code.CANCELED
    if code is grpc.StatusCode.OK:  # never raised on purpose; a bug if it is
        return Code.UNKNOWN
    return Code[code.name]


class Aborted(ConnectError, grpc.aio.AbortError):
    """A call ended by context.abort(): a Connect error to the HTTP client, and the AbortError that
    gRPC interceptors expect to see pass through (they read the code from the context)."""


def from_status(code: grpc.StatusCode, status: status_pb2.Status) -> Aborted:
    details = [WireAny(type_url=d.type_url, value=d.value) for d in status.details]
    return Aborted(connect_code(code), status.message, details)


def to_connect_error(exc: BaseException, method: str, translate: Translate | None) -> ConnectError:
    if isinstance(exc, ConnectError):
        return exc
    code, status = report(exc, method, translate)
    return from_status(code, status)


class ServicerContext:
    """The subset of grpc.aio.ServicerContext a servicer may use, over a Connect request."""

    def __init__(self, ctx: RequestContext[Any, Any]) -> None:
        self._ctx = ctx
        self._queue: asyncio.Queue[Any] | None = None
        self._code: grpc.StatusCode | None = None

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return tuple((k.lower(), v) for k, v in self._ctx.request_headers.allitems())

    def peer(self) -> str:
        return f"ipv4:{self._ctx.client_address}" if self._ctx.client_address else ""

    def time_remaining(self) -> float | None:
        timeout_ms = self._ctx.timeout_ms
        return None if timeout_ms is None else max(0.0, timeout_ms / 1000.0)

    def is_active(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    async def send_initial_metadata(self, metadata: Iterable[tuple[str, str]]) -> None:
        for key, value in metadata:
            self._ctx.response_headers.add(key, value)

    def set_trailing_metadata(self, metadata: Iterable[tuple[str, str | bytes]]) -> None:
        for key, value in metadata:
            if isinstance(value, str):
                self._ctx.response_trailers.add(key, value)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def set_details(self, details: str) -> None:
        pass

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        """What the error interceptor calls: the google.rpc.Status it puts in the trailers becomes
        the Connect error's details, so ErrorInfo reaches HTTP clients unchanged."""
        self._code = code
        for key, value in trailing_metadata or ():
            if key == DETAILS_KEY and isinstance(value, bytes):
                raise from_status(code, status_pb2.Status.FromString(value))
        raise Aborted(connect_code(code), details)

    async def write(self, message: Any) -> None:
        if self._queue is None:
            raise RuntimeError("write() outside a server-streaming call")
        await self._queue.put(message)


_DONE = object()


class _Bridge:
    """A Connect service whose every method dispatches, by the called method's name, to the gRPC
    handler of the same name (the generated ASGI app looks methods up by their snake_case names)."""

    def __init__(self, service: str, handlers: MethodHandlers, translate: Translate | None) -> None:
        self._service = service
        self._handlers = handlers
        self._translate = translate

    def __getattr__(self, local_name: str) -> Callable[..., Any]:
        return self._call

    def _call(self, request: Any, ctx: RequestContext[Any, Any]) -> Any:
        name = ctx.method.name
        handler = self._handlers[name]
        full = f"/{self._service}/{name}"
        kind = ctx.method.stream_type
        if kind in (StreamType.UNARY, StreamType.CLIENT_STREAM):
            fn = handler.unary_unary if kind is StreamType.UNARY else handler.stream_unary
            assert fn is not None
            return self._unary(fn, request, ctx, full)
        fn = handler.unary_stream if kind is StreamType.SERVER_STREAM else handler.stream_stream
        assert fn is not None
        return self._stream(fn, request, ctx, full)

    async def _unary(self, fn: Callable[..., Any], request: Any, ctx: RequestContext[Any, Any], full: str) -> Any:
        try:
            return await fn(request, ServicerContext(ctx))
        except Exception as exc:  # every failure goes through the one error map
            raise to_connect_error(exc, full, self._translate) from exc

    async def _stream(
        self, fn: Callable[..., Any], request: Any, ctx: RequestContext[Any, Any], full: str
    ) -> AsyncIterator[Any]:
        context = ServicerContext(ctx)
        try:
            result = fn(request, context)
            if inspect.isasyncgen(result):
                async for item in result:
                    yield item
                return
            # A servicer that streams with context.write() and returns when done.
            queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=8)
            context._queue = queue

            async def run() -> None:
                try:
                    await result
                finally:
                    await queue.put(_DONE)

            task = asyncio.ensure_future(run())
            try:
                while (item := await queue.get()) is not _DONE:
                    yield item
                await task
            finally:
                task.cancel()
        except Exception as exc:  # every failure goes through the one error map
            raise to_connect_error(exc, full, self._translate) from exc


def _application_class(service: str) -> Callable[..., ConnectASGIApplication[Any]]:
    """The generated <Service>ASGIApplication, found from the service's proto file (artimeta/v1/x.proto
    -> artimeta.v1.x_connect), so a service added to proto/ needs nothing here."""
    desc = descriptor_pool.Default().FindServiceByName(service)
    module = importlib.import_module(desc.file.name.removesuffix(".proto").replace("/", ".") + "_connect")
    cls: Callable[..., ConnectASGIApplication[Any]] = getattr(module, f"{desc.name}ASGIApplication")
    return cls


def intercepted(service: str, handlers: MethodHandlers, interceptors: Sequence[WrappingInterceptor]) -> MethodHandlers:
    """The handlers as the gRPC server runs them: wrapped by its interceptors, outermost first."""
    return {name: wrap_all(interceptors, handler, f"/{service}/{name}") for name, handler in handlers.items()}


async def applications(
    servicers: Iterable[tuple[str, AddToServer]],
    translate: Translate | None,
    *,
    interceptors: Sequence[WrappingInterceptor] = (),
    read_max_bytes: int,
) -> dict[str, ConnectASGIApplication[Any]]:
    """One Connect ASGI application per service of the servicer table, under each of its methods'
    paths (/artimeta.v1.NamespaceService/GetNamespace)."""
    # Unknown JSON fields are refused (a misspelt field is a bug, not a no-op); binary keeps proto rules.
    codecs = [google_protobuf_binary_codec(), google_protobuf_json_codec(ignore_unknown_fields=False)]
    apps: dict[str, ConnectASGIApplication[Any]] = {}
    for _, add in servicers:
        for service, raw in method_handlers(add).items():
            handlers = intercepted(service, raw, interceptors)
            app = _application_class(service)(
                _Bridge(service, handlers, translate), read_max_bytes=read_max_bytes, codecs=codecs
            )
            for method in handlers:
                apps[f"/{service}/{method}"] = app
    return apps
