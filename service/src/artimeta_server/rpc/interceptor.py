"""What every artimeta server interceptor shares: each method's handler is wrapped once, on its
first call, and the wrapped handler is reused; a wrapper replaces each behaviour of a handler
whatever its streaming kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:  # the runtime class is not generic; only the stubs are
    Handler = grpc.RpcMethodHandler
Behaviour = Callable[..., Any]


def rebuild(
    h: Handler,
    wrap: Callable[[Behaviour, bool], Behaviour],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """`h` with its behaviour replaced by wrap(behaviour, request_is_unary) (and its request
    deserializer by `request_deserializer` when given)."""
    kw = {
        "request_deserializer": request_deserializer or h.request_deserializer,
        "response_serializer": h.response_serializer,
    }
    if h.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(wrap(h.unary_unary, True), **kw)
    if h.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(wrap(h.unary_stream, True), **kw)
    if h.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(wrap(h.stream_unary, False), **kw)
    assert h.stream_stream is not None
    return grpc.stream_stream_rpc_method_handler(wrap(h.stream_stream, False), **kw)


class WrappingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self._wrapped: dict[str, Handler] = {}

    def wrap(self, handler: Handler, method: str) -> Handler | None:
        """The wrapped handler for `method`, or None to leave it as it is."""
        raise NotImplementedError

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None:
            return cached
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        wrapped = self.wrap(handler, method)
        if wrapped is None:
            return handler
        self._wrapped[method] = wrapped
        return wrapped


def wrap_all(interceptors: Sequence[WrappingInterceptor], handler: Handler, method: str) -> Handler:
    """`handler` as the interceptors would run it, the first one outermost."""
    for interceptor in reversed(interceptors):
        handler = interceptor.wrap(handler, method) or handler
    return handler


class _WrappedGeneric(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, interceptors: Sequence[WrappingInterceptor]) -> None:
        self._inner = inner
        self._interceptors = interceptors
        self._wrapped: dict[str, Handler | None] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        if method not in self._wrapped:
            handler = self._inner.service(handler_call_details)
            self._wrapped[method] = None if handler is None else wrap_all(self._interceptors, handler, method)
        return self._wrapped[method]


class PrewrappingServer:
    """Stands for a grpc.aio.Server while servicers are added to it: each method handler is
    wrapped by the interceptors once, here, instead of grpc running the interceptor chain on
    every call (it costs a grpc.aio server about a third more CPU per RPC). The behaviour is that
    of `grpc.aio.server(interceptors=...)` with the same interceptors in the same order."""

    def __init__(self, server: grpc.aio.Server, interceptors: Sequence[WrappingInterceptor]) -> None:
        self._server = server
        self._interceptors = tuple(interceptors)

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        self._server.add_registered_method_handlers(
            service, {name: wrap_all(self._interceptors, h, f"/{service}/{name}") for name, h in handlers.items()}
        )

    def add_generic_rpc_handlers(self, generic_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_WrappedGeneric(g, self._interceptors) for g in generic_handlers))
