"""The auth interceptor: every RPC outside the open services presents a bearer token
(UNAUTHENTICATED otherwise) whose grants cover the role and namespace that rpc/access.py
declares for the method (PERMISSION_DENIED otherwise)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from artimeta_server.domain.auth import Principal, Tokens
from artimeta_server.domain.errors import DomainError
from artimeta_server.rpc import access, errors
from artimeta_server.rpc.context import current_call

Context = grpc.aio.ServicerContext[Any, Any]


def bearer(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: Tokens, open_services: frozenset[str]) -> None:
        self._tokens = tokens
        self._open = open_services
        self._cache: dict[str, grpc.RpcMethodHandler[Any, Any] | None] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        if method in self._cache:
            return self._cache[method]
        handler = await continuation(handler_call_details)
        service = method.lstrip("/").partition("/")[0]
        rule = access.rule_for(method)
        if handler is None or service in self._open or rule.open:
            return handler
        wrapped = self._wrap(handler, method, rule)
        self._cache[method] = wrapped
        return wrapped

    async def _principal(self, context: Context) -> Principal:
        principal = await self._tokens.authenticate(bearer(context))
        call = current_call.get()
        if call is not None:
            call["subject"] = principal.subject
        return principal

    async def _check(self, request: Any, context: Context, rule: access.Rule) -> None:
        principal = await self._principal(context)
        principal.require(access.namespace_of(request, rule.field), rule.role)

    def _wrap(
        self, h: grpc.RpcMethodHandler[Any, Any], method: str, rule: access.Rule
    ) -> grpc.RpcMethodHandler[Any, Any]:
        kw = {"request_deserializer": h.request_deserializer, "response_serializer": h.response_serializer}
        check = self._check
        principal_of = self._principal

        def unary_in(fn: Callable[..., Any]) -> Callable[..., Any]:
            if inspect.isasyncgenfunction(fn):

                async def gen(request: Any, context: Context) -> AsyncIterator[Any]:
                    try:
                        await check(request, context, rule)
                    except DomainError as exc:
                        await errors.abort(context, exc, method)
                    async for item in fn(request, context):
                        yield item

                return gen

            async def call(request: Any, context: Context) -> Any:
                try:
                    await check(request, context, rule)
                except DomainError as exc:
                    await errors.abort(context, exc, method)
                return await fn(request, context)

            return call

        def stream_in(fn: Callable[..., Any]) -> Callable[..., Any]:
            # The namespace arrives with the messages: each one that names a namespace is checked.
            def guarded(requests: AsyncIterator[Any], principal: Principal) -> AsyncIterator[Any]:
                async def it() -> AsyncIterator[Any]:
                    async for message in requests:
                        principal.require(access.namespace_of(message, rule.field), rule.role)
                        yield message

                return it()

            if inspect.isasyncgenfunction(fn):

                async def gen(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
                    try:
                        principal = await principal_of(context)
                    except DomainError as exc:
                        await errors.abort(context, exc, method)
                    async for item in fn(guarded(requests, principal), context):
                        yield item

                return gen

            async def call(requests: AsyncIterator[Any], context: Context) -> Any:
                try:
                    principal = await principal_of(context)
                except DomainError as exc:
                    await errors.abort(context, exc, method)
                return await fn(guarded(requests, principal), context)

            return call

        if h.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(unary_in(h.unary_unary), **kw)
        if h.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(unary_in(h.unary_stream), **kw)
        if h.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(stream_in(h.stream_unary), **kw)
        assert h.stream_stream is not None
        return grpc.stream_stream_rpc_method_handler(stream_in(h.stream_stream), **kw)
