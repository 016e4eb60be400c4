"""The one error map: every failure leaves the server as a gRPC status carrying google.rpc.Status
with ErrorInfo(reason, domain="artimeta"), so clients in any language branch on the reason."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from artimeta_server.domain import errors
from artimeta_server.domain.reasons import Reason
from artimeta_server.rpc.interceptor import WrappingInterceptor, rebuild

log = logging.getLogger("artimeta.rpc")

DOMAIN = "artimeta"
DETAILS_KEY = "grpc-status-details-bin"

# cause -> code; the order matters only in that subclasses come before their bases.
CODES: tuple[tuple[type[errors.DomainError], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.Aborted, grpc.StatusCode.ABORTED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DataLoss, grpc.StatusCode.DATA_LOSS),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
)

Translate = Callable[[BaseException], BaseException]


def code_of(exc: errors.DomainError) -> grpc.StatusCode:
    for cls, code in CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def status_for(
    code: grpc.StatusCode, message: str, reason: Reason, metadata: dict[str, str], retry_after_s: float | None = None
) -> status_pb2.Status:
    info = error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata)
    status = status_pb2.Status(code=code.value[0], message=message)
    status.details.add().Pack(info)
    if retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after_s * 1e9))
        status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return status


def describe(exc: BaseException, translate: Translate | None) -> tuple[grpc.StatusCode, status_pb2.Status]:
    if translate is not None and not isinstance(exc, errors.DomainError):
        exc = translate(exc)
    if isinstance(exc, errors.DomainError):
        code = code_of(exc)
        retry = exc.retry_after_s if isinstance(exc, errors.RetryLater) else None
        return code, status_for(code, exc.message, exc.reason, exc.metadata, retry)
    return grpc.StatusCode.INTERNAL, status_for(grpc.StatusCode.INTERNAL, "internal error", Reason.INTERNAL, {})


def report(exc: BaseException, method: str, translate: Translate | None) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """describe() plus the log line; every transport (gRPC, Connect, gRPC-Web) goes through here."""
    code, status = describe(exc, translate)
    if code is grpc.StatusCode.INTERNAL:
        log.error("unhandled error in %s", method, exc_info=exc)
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS):
        log.warning("%s: %s (%s)", method, status.message, exc.__cause__ or exc)
    return code, status


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], exc: BaseException, method: str, translate: Translate | None
) -> None:
    code, status = report(exc, method, translate)
    await context.abort(code, status.message, trailing_metadata=((DETAILS_KEY, status.SerializeToString()),))


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException, method: str) -> None:
    """Ends a call with the status this map gives `exc` (for interceptors that fail a call early)."""
    await _abort(context, exc, method, None)


def _wrap_unary(
    fn: Callable[..., Awaitable[Any]], method: str, translate: Translate | None
) -> Callable[..., Awaitable[Any]]:
    async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await fn(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - this is the one place every failure is mapped
            await _abort(context, exc, method, translate)

    return call


def _wrap_stream(fn: Callable[..., Any], method: str, translate: Translate | None) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(fn):

        async def gen(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            try:
                async for item in fn(request, context):
                    yield item
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001
                await _abort(context, exc, method, translate)

        return gen
    return _wrap_unary(fn, method, translate)


class ErrorInterceptor(WrappingInterceptor):
    def __init__(self, translate: Translate | None = None) -> None:
        super().__init__()
        self._translate = translate

    def wrap(self, handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any] | None:
        if not method.startswith("/artimeta."):
            return None
        t = self._translate
        # _wrap_stream maps the failures of an async-generator behaviour and falls back to
        # _wrap_unary for a plain coroutine.
        return rebuild(handler, lambda fn, _unary_request: _wrap_stream(fn, method, t))


__all__ = ["CODES", "ErrorInterceptor", "abort", "describe", "report", "status_for"]
