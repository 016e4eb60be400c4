"""rpc/interceptor.PrewrappingServer: handlers are wrapped once, at registration, exactly as the
interceptors would wrap them per call: first interceptor outermost, None leaves a handler as is."""

from __future__ import annotations

from typing import Any

import grpc

from artimeta_server.rpc.interceptor import Handler, PrewrappingServer, WrappingInterceptor, rebuild


class Tagging(WrappingInterceptor):
    """Wraps every method whose name contains `only` so that its result records the tag."""

    def __init__(self, tag: str, only: str = "") -> None:
        super().__init__()
        self.tag = tag
        self.only = only
        self.wrapped: list[str] = []

    def wrap(self, handler: Handler, method: str) -> Handler | None:
        if self.only not in method:
            return None
        self.wrapped.append(method)

        def outer(fn: Any, _unary: bool) -> Any:
            async def call(request: Any, context: Any) -> Any:
                return [self.tag, *await fn(request, context)]

            return call

        return rebuild(handler, outer)


async def servicer(request: Any, context: Any) -> list[str]:
    return ["servicer"]


class Recorder:
    def __init__(self) -> None:
        self.registered: dict[str, dict[str, Handler]] = {}
        self.generic: list[grpc.GenericRpcHandler] = []

    def add_registered_method_handlers(self, service: str, handlers: dict[str, Handler]) -> None:
        self.registered[service] = handlers

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self.generic.extend(handlers)


class Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


async def test_registered_and_generic_handlers_are_wrapped_once_first_interceptor_outermost():
    outer, inner, picky = Tagging("outer"), Tagging("inner"), Tagging("picky", only="Get")
    recorder = Recorder()
    server = PrewrappingServer(recorder, [outer, inner, picky])  # type: ignore[arg-type]
    handlers: dict[str, Any] = {
        "Get": grpc.unary_unary_rpc_method_handler(servicer),
        "Put": grpc.unary_unary_rpc_method_handler(servicer),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("pkg.Svc", handlers)])
    server.add_registered_method_handlers("pkg.Svc", handlers)
    other: dict[str, Any] = {"Only": grpc.unary_unary_rpc_method_handler(servicer)}
    server.add_registered_method_handlers("pkg.Registered", other)  # registered, never generic

    # grpc itself is given one generic handler and no registered method (each costs every RPC).
    assert recorder.registered == {} and len(recorder.generic) == 1
    generic: Any = recorder.generic[0]  # called here with stand-ins for grpc's arguments
    got = generic.service(Details("/pkg.Svc/Get"))
    assert got is generic.service(Details("/pkg.Svc/Get"))  # wrapped once, then reused
    assert await got.unary_unary(None, None) == ["outer", "inner", "picky", "servicer"]
    put = generic.service(Details("/pkg.Svc/Put"))
    assert await put.unary_unary(None, None) == ["outer", "inner", "servicer"]
    only = generic.service(Details("/pkg.Registered/Only"))
    assert await only.unary_unary(None, None) == ["outer", "inner", "servicer"]
    assert generic.service(Details("/pkg.Svc/Nope")) is None
    assert outer.wrapped == ["/pkg.Svc/Get", "/pkg.Svc/Put", "/pkg.Registered/Only"]
