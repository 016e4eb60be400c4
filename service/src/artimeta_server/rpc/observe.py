"""Outermost interceptor: per-RPC metrics, one structured log line per call, the trace span,
and the request id (the caller's `x-request-id`, or a new one) that ties them together.
Logs name the method, namespace, code, duration, request id and caller; never payloads or
credentials."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from artimeta_server import metrics, tracing
from artimeta_server.rpc import access
from artimeta_server.rpc.context import current_call
from artimeta_server.rpc.interceptor import WrappingInterceptor, rebuild

log = logging.getLogger("artimeta.access")
Context = grpc.aio.ServicerContext[Any, Any]
_QUIET = ("/grpc.health.", "/grpc.reflection.")
# Request ids: a random prefix per process and a counter (a uuid4 a call costs more than the log line).
_ID_PREFIX = os.urandom(6).hex()
_ids = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}-{next(_ids):x}"


def _code_of(context: Context, exc: BaseException | None) -> grpc.StatusCode:
    if exc is None or isinstance(exc, grpc.aio.AbortError):
        code = context.code()
        if isinstance(code, grpc.StatusCode):
            return code
        if isinstance(code, int):
            for c in grpc.StatusCode:
                if c.value[0] == code:
                    return c
        return grpc.StatusCode.OK if exc is None else grpc.StatusCode.UNKNOWN
    if isinstance(exc, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class ObserveInterceptor(WrappingInterceptor):
    def __init__(self, *, log_requests: bool = True) -> None:
        super().__init__()
        self._log_requests = log_requests

    def wrap(self, h: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any]:
        service, _, name = method.lstrip("/").partition("/")
        field = access.rule_for(method).field
        handled = {c: metrics.RPC_HANDLED.labels(service, name, c.name) for c in grpc.StatusCode}
        latency = metrics.RPC_LATENCY.labels(service, name)
        in_flight = metrics.RPC_IN_FLIGHT.labels(service)
        level = logging.DEBUG if method.startswith(_QUIET) else logging.INFO
        log_requests = self._log_requests
        span_name = method.lstrip("/")

        def begin(context: Context) -> tuple[dict[str, str], Any]:
            request_id = ""
            carrier: dict[str, str] = {}
            for key, value in context.invocation_metadata() or ():
                if key == "x-request-id" and isinstance(value, str):
                    request_id = value[:128]
                elif key in ("traceparent", "tracestate") and isinstance(value, str):
                    carrier[key] = value
            call = {"request_id": request_id or new_request_id()}
            return call, carrier

        def finish(
            call: dict[str, str], context: Context, request: Any, started: float, exc: BaseException | None
        ) -> None:
            elapsed = time.perf_counter() - started
            code = _code_of(context, exc)
            handled[code].inc()
            latency.observe(elapsed)
            if log_requests and log.isEnabledFor(level):
                namespace = access.namespace_of(request, field) if request is not None else None
                log.log(
                    level,
                    "rpc",
                    extra={
                        "rpc": method,
                        "namespace": namespace or "",
                        "code": code.name,
                        "duration_ms": round(elapsed * 1000, 3),
                        "request_id": call["request_id"],
                        "subject": call.get("subject", ""),
                    },
                )

        def span_attrs(call: dict[str, str], request: Any) -> dict[str, Any]:
            attrs: dict[str, Any] = {
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": name,
                "artimeta.request_id": call["request_id"],
            }
            namespace = access.namespace_of(request, field) if request is not None else None
            if namespace:
                attrs["artimeta.namespace"] = namespace
            return attrs

        def wrap(fn: Callable[..., Any], unary_request: bool) -> Callable[..., Any]:
            if inspect.isasyncgenfunction(fn):

                async def gen(request: Any, context: Context) -> AsyncIterator[Any]:
                    call, carrier = begin(context)
                    token = current_call.set(call)
                    req = request if unary_request else None
                    started = time.perf_counter()
                    in_flight.inc()
                    error: BaseException | None = None
                    try:
                        with tracing.server_span(span_name, carrier, span_attrs(call, req)):
                            async for item in fn(request, context):
                                yield item
                    except BaseException as exc:
                        error = exc
                        raise
                    finally:
                        in_flight.dec()
                        finish(call, context, req, started, error)
                        current_call.reset(token)

                return gen

            async def unary(request: Any, context: Context) -> Any:
                call, carrier = begin(context)
                token = current_call.set(call)
                req = request if unary_request else None
                started = time.perf_counter()
                in_flight.inc()
                error: BaseException | None = None
                try:
                    if not tracing.enabled():
                        return await fn(request, context)
                    with tracing.server_span(span_name, carrier, span_attrs(call, req)):
                        return await fn(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    in_flight.dec()
                    finish(call, context, req, started, error)
                    current_call.reset(token)

            return unary

        return rebuild(h, wrap)
