"""The auth interceptor: every RPC outside the open services presents a bearer token
(UNAUTHENTICATED otherwise) whose grants cover the role and namespace that rpc/access.py
declares for the method (PERMISSION_DENIED otherwise)."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from artimeta_server.domain.auth.models import Principal
from artimeta_server.domain.auth.service import Tokens
from artimeta_server.domain.errors import DomainError, InvalidArgument
from artimeta_server.domain.reasons import Reason
from artimeta_server.rpc import access, errors
from artimeta_server.rpc.context import current_call
from artimeta_server.rpc.interceptor import WrappingInterceptor, rebuild

Context = grpc.aio.ServicerContext[Any, Any]


def bearer(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def peer_host(peer: str) -> str:
    """The address part of a gRPC peer string ("ipv4:10.0.0.7:51234", "ipv6:[::1]:5000"), the key
    of the failed-authentication budget: one per client host, whatever its source ports."""
    kind, sep, rest = peer.partition(":")
    if not sep or kind not in {"ipv4", "ipv6"}:
        return peer
    host, sep, port = rest.rpartition(":")
    return host.strip("[]") if sep and port.isdigit() else rest


class AuthInterceptor(WrappingInterceptor):
    def __init__(self, tokens: Tokens, open_services: frozenset[str]) -> None:
        super().__init__()
        self._tokens = tokens
        self._open = open_services

    def wrap(self, handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any] | None:
        service = method.lstrip("/").partition("/")[0]
        rule = access.rule_for(method)
        if service in self._open or rule.open:
            return None
        return self._wrap(handler, method, rule)

    async def _principal(self, context: Context) -> Principal:
        principal = await self._tokens.authenticate(bearer(context), peer_host(context.peer() or ""))
        call = current_call.get()
        if call is not None:
            call["subject"] = principal.subject
        return principal

    async def _check(self, request: Any, context: Context, rule: access.Rule) -> None:
        principal = await self._principal(context)
        if not rule.signed_in:
            principal.require(access.namespace_of(request, rule.field), rule.role_for(request))

    def _wrap(
        self, h: grpc.RpcMethodHandler[Any, Any], method: str, rule: access.Rule
    ) -> grpc.RpcMethodHandler[Any, Any]:
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
            # The namespace arrives with the messages: the first one's is checked and binds the
            # stream (clients send it once); a later message may repeat it, never name another.
            def guarded(requests: AsyncIterator[Any], principal: Principal) -> AsyncIterator[Any]:
                async def it() -> AsyncIterator[Any]:
                    bound: str | None = None
                    first = True
                    async for message in requests:
                        namespace = access.namespace_of(message, rule.field)
                        if first:
                            first = False
                            bound = namespace
                            if not rule.signed_in:
                                principal.require(namespace or None, rule.role_for(message))
                        elif namespace and namespace != bound:
                            # The same refusal the servicer gives with auth off: a malformed stream.
                            raise InvalidArgument(
                                f"the stream is bound to namespace {bound!r}, a later message names {namespace!r}",
                                reason=Reason.NAMESPACE_MISMATCH,
                                metadata={"field": rule.field or "", "namespace": bound or ""},
                            )
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

        return rebuild(h, lambda fn, unary_request: unary_in(fn) if unary_request else stream_in(fn))
