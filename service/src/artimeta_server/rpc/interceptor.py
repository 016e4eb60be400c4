"""What every artimeta server interceptor shares: each method's handler is wrapped once, on its
first call, and the wrapped handler is reused; a wrapper replaces each behaviour of a handler
whatever its streaming kind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from artimeta_server import metrics

if TYPE_CHECKING:
    Handler: TypeAlias = grpc.RpcMethodHandler[Any, Any]
else:  # the runtime class is not generic; only the stubs are
    Handler = grpc.RpcMethodHandler
Behaviour = Callable[..., Any]
# The service and method label of every call to a path no service defines.
UNKNOWN = "unknown"


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


class _Dispatch(grpc.GenericRpcHandler):
    """Every handler of the server behind one generic handler, wrapped: the methods services
    register (`known`, wrapped as they are added) and what other generic handlers return.
    Unknown paths are whatever a caller, authenticated or not, sends: nothing is kept for them
    (a record per path grows without bound) and they are counted under one label value. A
    handler a generic handler does return is wrapped once and kept; there is one per method the
    services define."""

    def __init__(self, interceptors: Sequence[WrappingInterceptor]) -> None:
        self._inner: list[grpc.GenericRpcHandler] = []
        self._interceptors = interceptors
        self.known: dict[str, Handler] = {}
        self._wrapped: dict[str, Handler] = {}
        self._unknown = metrics.RPC_HANDLED.labels(UNKNOWN, UNKNOWN, grpc.StatusCode.UNIMPLEMENTED.name)

    def add(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._inner.extend(handlers)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Handler | None:
        method = handler_call_details.method
        wrapped = self.known.get(method) or self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        for inner in self._inner:
            handler = inner.service(handler_call_details)
            if handler is not None:
                wrapped = self._wrapped[method] = wrap_all(self._interceptors, handler, method)
                return wrapped
        self._unknown.inc()
        return None


class PrewrappingServer:
    """Stands for a grpc.aio.Server while servicers are added to it: each method handler is
    wrapped by the interceptors once, here, instead of grpc running the interceptor chain on
    every call (it costs a grpc.aio server about a third more CPU per RPC). The behaviour is that
    of `grpc.aio.server(interceptors=...)` with the same interceptors in the same order."""

    def __init__(self, server: grpc.aio.Server, interceptors: Sequence[WrappingInterceptor]) -> None:
        self._server = server
        self._interceptors = tuple(interceptors)
        self._dispatch: _Dispatch | None = None

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        # Served by the generic dispatch, not registered with grpc: for each registered method
        # a grpc.aio server keeps a call request in flight and waits on all of them for every
        # RPC (asyncio.wait over ~80 tasks, twice a call: ~90 µs of CPU an RPC here). A dict
        # lookup finds the same handler.
        dispatch = self._generic()
        for name, h in handlers.items():
            method = f"/{service}/{name}"
            dispatch.known[method] = wrap_all(self._interceptors, h, method)

    def _generic(self) -> _Dispatch:
        if self._dispatch is None:
            self._dispatch = _Dispatch(self._interceptors)
            self._server.add_generic_rpc_handlers((self._dispatch,))
        return self._dispatch

    def add_generic_rpc_handlers(self, generic_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._generic().add(generic_handlers)
