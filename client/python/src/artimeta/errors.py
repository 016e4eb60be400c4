"""Typed exceptions built from the server's ErrorInfo, so callers branch on a class or a reason
instead of parsing messages."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple, Type

import grpc
from google.rpc import error_details_pb2, status_pb2

from artimeta.v1 import error_reason_pb2

DETAILS_KEY = "grpc-status-details-bin"
DOMAIN = "artimeta"


class ArtimetaError(Exception):
    """A failed call. `reason` is ErrorInfo.reason (stable, machine-readable), `code` the gRPC code."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: Optional[grpc.StatusCode] = None,
        reason: str = "",
        metadata: Optional[Dict[str, str]] = None,
        retry_delay_s: Optional[float] = None,
    ) -> None:
        super().__init__(f"{reason}: {message}" if reason else message)
        self.message = message
        if code is not None:
            self.code = code
        self.reason = reason
        self.metadata: Dict[str, str] = dict(metadata or {})
        self.retry_delay_s = retry_delay_s

    @property
    def typed_reason(self) -> error_reason_pb2.ErrorReason.ValueType:
        """`reason` as an artimeta.v1.ErrorReason value (ERROR_REASON_ + the wire string), or
        ERROR_REASON_UNSPECIFIED for a reason this client does not know (e.g. a status gRPC itself
        raised, such as UNIMPLEMENTED)."""
        return typed_reason(self.reason)


class Cancelled(ArtimetaError):
    code = grpc.StatusCode.CANCELLED


class InvalidArgument(ArtimetaError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(ArtimetaError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(ArtimetaError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(ArtimetaError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(ArtimetaError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(ArtimetaError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(ArtimetaError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(ArtimetaError):
    code = grpc.StatusCode.ABORTED


class Unimplemented(ArtimetaError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(ArtimetaError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(ArtimetaError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(ArtimetaError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(ArtimetaError):
    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: Dict[grpc.StatusCode, Type[ArtimetaError]] = {
    cls.code: cls
    for cls in (
        Cancelled,
        InvalidArgument,
        DeadlineExceeded,
        NotFound,
        AlreadyExists,
        PermissionDenied,
        ResourceExhausted,
        FailedPrecondition,
        Aborted,
        Unimplemented,
        Internal,
        Unavailable,
        DataLoss,
        Unauthenticated,
    )
}


def typed_reason(reason: str) -> error_reason_pb2.ErrorReason.ValueType:
    """The ErrorReason value of a wire reason string; ERROR_REASON_UNSPECIFIED when it is not one."""
    name = "ERROR_REASON_" + reason
    if reason and name in error_reason_pb2.ErrorReason.DESCRIPTOR.values_by_name:
        return error_reason_pb2.ErrorReason.Value(name)
    return error_reason_pb2.ERROR_REASON_UNSPECIFIED


def _details(trailing: Optional[Sequence[Tuple[str, Any]]]) -> Tuple[str, Dict[str, str], Optional[float]]:
    for key, value in trailing or ():
        if key != DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        reason, metadata, delay = "", {}, None
        for any_detail in status.details:
            info = error_details_pb2.ErrorInfo()
            retry = error_details_pb2.RetryInfo()
            if any_detail.Unpack(info):
                if info.domain == DOMAIN or not reason:
                    reason, metadata = info.reason, dict(info.metadata)
            elif any_detail.Unpack(retry):
                delay = retry.retry_delay.ToNanoseconds() / 1e9
        return reason, metadata, delay
    return "", {}, None


def from_rpc_error(err: grpc.RpcError) -> ArtimetaError:
    """The typed exception for a failed call (sync or asyncio)."""
    call: Any = err
    code: grpc.StatusCode = call.code()
    message: str = call.details() or code.name
    reason, metadata, delay = _details(call.trailing_metadata())
    cls = _BY_CODE.get(code, ArtimetaError)
    return cls(message, code=code, reason=reason or code.name, metadata=metadata, retry_delay_s=delay)
