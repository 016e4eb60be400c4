"""rpc/validate.py: the check every request passes before a servicer sees it."""

from __future__ import annotations

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2

from artimeta.v1 import cache_pb2, namespace_pb2, records_pb2, tags_pb2
from artimeta_server.domain import errors
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason
from artimeta_server.rpc import validate
from artimeta_server.rpc.errors import describe
from artimeta_server.storage.postgres import translate


def _refusal(msg: object) -> tuple[str, str]:
    with pytest.raises(InvalidArgument) as err:
        validate.request(msg)
    return err.value.reason, err.value.metadata.get("field", "")


def test_a_nul_anywhere_is_refused_with_the_field_it_is_in() -> None:
    tags = tags_pb2.RecordTagsRequest(
        namespace="a", tags=[tags_pb2.TagKeyValue(key="k"), tags_pb2.TagKeyValue(key="\x00")]
    )
    assert _refusal(tags) == ("INVALID_CHARACTER", "tags.key")
    assert _refusal(cache_pb2.GetRecordsRequest(namespace="a", ids=["ok", "x\x00"])) == ("INVALID_CHARACTER", "ids")
    assert _refusal(
        namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name="a", labels={"k": "v\x00"}))
    ) == (
        "INVALID_CHARACTER",
        "namespace.labels",
    )
    assert _refusal(records_pb2.ListRecordsRequest(namespace="a", metadata={"\x00": "v"}))[0] == "INVALID_CHARACTER"


@pytest.mark.parametrize(
    ("seconds", "nanos"), [(2**63 - 1, 0), (-(2**63), 0), (validate.MAX_TIMESTAMP_S + 1, 0), (0, -1), (0, 10**9)]
)
def test_timestamps_outside_their_definition_are_refused(seconds: int, nanos: int) -> None:
    job = cache_pb2.Job(id="j", start_time=timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos))
    assert _refusal(cache_pb2.RecordJobStartRequest(namespace="a", job=job)) == ("INVALID_TIMESTAMP", "job.start_time")


def test_clean_requests_pass_and_bytes_fields_may_hold_anything() -> None:
    job = cache_pb2.Job(id="j", start_time=timestamp_pb2.Timestamp(seconds=validate.MAX_TIMESTAMP_S, nanos=999_999_999))
    validate.request(cache_pb2.RecordJobStartRequest(namespace="a", job=job))
    validate.request(cache_pb2.RecordValuesRequest(namespace="a", values=[cache_pb2.CacheValue(data=b"\x00" * 8)]))
    validate.request(namespace_pb2.GetNamespaceRequest(name="é😀"))


def test_bytes_that_do_not_parse_become_a_refusal_not_an_exception_in_grpc() -> None:
    parse = validate._deserializer(namespace_pb2.GetNamespaceRequest.FromString)
    assert parse is not None
    raw = namespace_pb2.GetNamespaceRequest(name="zzzz").SerializeToString().replace(b"zzzz", b"\xed\xa0\x80\xff")
    assert _refusal(parse(raw))[0] == "INVALID_MESSAGE"
    assert parse(namespace_pb2.GetNamespaceRequest(name="ok").SerializeToString()).name == "ok"


def test_statement_timeouts_are_deadline_exceeded_and_pool_waits_stay_unavailable() -> None:
    for exc in (TimeoutError(), asyncpg.QueryCanceledError("canceling statement due to statement timeout")):
        code, status = describe(exc, translate)
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "STATEMENT_TIMEOUT" in status.details[0].value.decode(errors="replace")
    assert (
        describe(errors.Unavailable("x", reason=Reason.DATABASE_UNAVAILABLE), translate)[0]
        == grpc.StatusCode.UNAVAILABLE
    )
    assert describe(errors.DeadlineExceeded("x"), None)[0] == grpc.StatusCode.DEADLINE_EXCEEDED
