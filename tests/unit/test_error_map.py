from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from artimeta_server.domain import errors
from artimeta_server.domain.reasons import Reason
from artimeta_server.rpc.errors import describe


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InvalidArgument("x", reason=Reason.INVALID_NAME), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFound("x", reason=Reason.NAMESPACE_NOT_FOUND), grpc.StatusCode.NOT_FOUND),
        (errors.AlreadyExists("x", reason=Reason.NAMESPACE_EXISTS), grpc.StatusCode.ALREADY_EXISTS),
        (errors.Aborted("x", reason=Reason.TAG_MOVED), grpc.StatusCode.ABORTED),
        (errors.FailedPrecondition("x", reason=Reason.DIGEST_MISMATCH), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.Unavailable("x", reason=Reason.DATABASE_UNAVAILABLE), grpc.StatusCode.UNAVAILABLE),
        (errors.DataLoss("x", reason=Reason.BLOB_CORRUPT), grpc.StatusCode.DATA_LOSS),
        (errors.PermissionDenied("x", reason=Reason.PERMISSION_DENIED), grpc.StatusCode.PERMISSION_DENIED),
        (errors.Unauthenticated("x", reason=Reason.TOKEN_MISSING), grpc.StatusCode.UNAUTHENTICATED),
    ],
)
def test_each_domain_error_has_its_code_and_reason(exc: errors.DomainError, code: grpc.StatusCode) -> None:
    got, status = describe(exc, None)
    assert got == code
    assert status.code == code.value[0]
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == (exc.reason, "artimeta")


def test_unavailable_carries_retry_info() -> None:
    _, status = describe(errors.Unavailable("down", reason=Reason.DATABASE_UNAVAILABLE, retry_after_s=0.5), None)
    retry = error_details_pb2.RetryInfo()
    assert status.details[1].Unpack(retry)
    assert retry.retry_delay.ToNanoseconds() == 500_000_000


def test_unknown_errors_are_internal_and_say_nothing() -> None:
    code, status = describe(KeyError("secret detail"), None)
    assert code == grpc.StatusCode.INTERNAL
    assert "secret" not in status.message


def test_translate_hook_maps_driver_errors() -> None:
    code, _ = describe(
        ConnectionRefusedError(), lambda e: errors.Unavailable("down", reason=Reason.DATABASE_UNAVAILABLE)
    )
    assert code == grpc.StatusCode.UNAVAILABLE


def test_a_broken_driver_protocol_state_is_unavailable_not_internal() -> None:
    import asyncpg

    from artimeta_server.storage.postgres import translate

    broken = asyncpg.InternalClientError("cannot switch to state 11; another operation (2) is in progress")
    code, status = describe(broken, translate)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert "another operation" not in status.message


def test_a_write_refused_by_a_standby_is_unavailable_not_internal() -> None:
    import asyncpg

    from artimeta_server.storage.postgres import translate

    refused = asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction")
    code, status = describe(refused, translate)
    assert code == grpc.StatusCode.UNAVAILABLE
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "DATABASE_READ_ONLY"
