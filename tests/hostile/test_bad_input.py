"""Each input that used to reach INTERNAL or UNKNOWN: refused with INVALID_ARGUMENT and a reason,
and nothing of the namespace written (row counts of every table compared before and after)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from artimeta.v1 import blobs_pb2, cache_pb2, connection_pb2, digest_pb2, namespace_pb2, records_pb2, tags_pb2
from artimeta_server.server import Server
from tests.hostile.rows import Snapshot

H = "0123456789abcdef0123456789abcdef01234567"
MAX_I64 = 2**63 - 1
MIN_I64 = -(2**63)


def _token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _tags(ns: str, value_json: str) -> tags_pb2.RecordTagsRequest:
    return tags_pb2.RecordTagsRequest(
        namespace=ns,
        entity_type=tags_pb2.TAG_ENTITY_TYPE_VALUE,
        entity_id=H,
        tags=[tags_pb2.TagKeyValue(key="k", value_json=value_json)],
    )


def _job(ns: str, **start: int) -> cache_pb2.RecordJobStartRequest:
    job = cache_pb2.Job(id="job-1", task_hash=H, execution_id="exec-1", start_time=timestamp_pb2.Timestamp(**start))
    return cache_pb2.RecordJobStartRequest(namespace=ns, job=job)


def _entry(mode: int) -> records_pb2.RecordEntry:
    return records_pb2.RecordEntry(path="d", kind=records_pb2.RECORD_ENTRY_KIND_DIRECTORY, mode=mode)


Build = Callable[[str], Any]
TAGS = "/artimeta.v1.TagService/"
CACHE = "/artimeta.v1.CacheService/"
CASES: list[tuple[str, str, Build, set[str]]] = [
    ("tag value_json with a JSON NUL", TAGS + "RecordTags", lambda ns: _tags(ns, '"\\u0000"'), {"INVALID_CHARACTER"}),
    (
        "tag value_json with a lone surrogate",
        TAGS + "RecordTags",
        lambda ns: _tags(ns, '{"\\ud800":1}'),
        {"INVALID_CHARACTER"},
    ),
    ("tag value_json with a raw NUL", TAGS + "RecordTags", lambda ns: _tags(ns, '"a\x00"'), {"INVALID_CHARACTER"}),
    ("tag value_json NaN", TAGS + "RecordTags", lambda ns: _tags(ns, "NaN"), {"INVALID_JSON"}),
    ("tag value_json 1e400", TAGS + "RecordTags", lambda ns: _tags(ns, "1e400"), {"INVALID_JSON"}),
    (
        "tag value_json nested 10,000 deep",
        TAGS + "RecordTags",
        lambda ns: _tags(ns, "[" * 10_000 + "]" * 10_000),
        {"INVALID_JSON"},
    ),
    (
        "search by value_json with a lone surrogate",
        TAGS + "SearchTags",
        lambda ns: tags_pb2.SearchTagsRequest(namespace=ns, key="k", value_json='"\\udc00"'),
        {"INVALID_CHARACTER"},
    ),
    (
        "search by value_json with a JSON NUL",
        TAGS + "SearchTags",
        lambda ns: tags_pb2.SearchTagsRequest(namespace=ns, key="k", value_json='["\\u0000"]'),
        {"INVALID_CHARACTER"},
    ),
    (
        "GetTags ids with a NUL",
        TAGS + "GetTags",
        lambda ns: tags_pb2.GetTagsRequest(namespace=ns, entity_ids=["a\x00"]),
        {"INVALID_CHARACTER"},
    ),
    (
        "GetRecords ids with a NUL",
        CACHE + "GetRecords",
        lambda ns: cache_pb2.GetRecordsRequest(namespace=ns, ids=["\x00"]),
        {"INVALID_CHARACTER"},
    ),
    (
        "RecordExecution args with a NUL",
        CACHE + "RecordExecution",
        lambda ns: cache_pb2.RecordExecutionRequest(namespace=ns, id="exec-1", args=["run", "a\x00b"]),
        {"INVALID_CHARACTER"},
    ),
    (
        "CheckCache scheduler_task_hashes with a NUL",
        CACHE + "CheckCache",
        lambda ns: cache_pb2.CheckCacheRequest(
            namespace=ns,
            task_hash=H,
            args_hash=H,
            eval_hash=H,
            scheduler_task_hashes=[H, "\x00"],
            scope=cache_pb2.CACHE_SCOPE_BACKEND,
            check=cache_pb2.CACHE_CHECK_SHALLOW,
        ),
        {"INVALID_CHARACTER"},
    ),
    (
        "CheckCache scheduler_task_hashes not a hash",
        CACHE + "CheckCache",
        lambda ns: cache_pb2.CheckCacheRequest(
            namespace=ns,
            task_hash=H,
            args_hash=H,
            eval_hash=H,
            scheduler_task_hashes=[f"{H},{H}"],
            scope=cache_pb2.CACHE_SCOPE_BACKEND,
            check=cache_pb2.CACHE_CHECK_SHALLOW,
        ),
        {"INVALID_HASH"},
    ),
    ("job start time 2^63-1 s", CACHE + "RecordJobStart", lambda ns: _job(ns, seconds=MAX_I64), {"INVALID_TIMESTAMP"}),
    ("job start time -2^63 s", CACHE + "RecordJobStart", lambda ns: _job(ns, seconds=MIN_I64), {"INVALID_TIMESTAMP"}),
    (
        "job start time negative nanos",
        CACHE + "RecordJobStart",
        lambda ns: _job(ns, seconds=10, nanos=-1),
        {"INVALID_TIMESTAMP"},
    ),
    (
        "record entry mode 2^31",
        "/artimeta.v1.RecordService/CommitRecord",
        lambda ns: records_pb2.CommitRecordRequest(namespace=ns, uuid="rec-1", entries=[_entry(2**31)]),
        {"INVALID_MODE"},
    ),
    (
        "record entry mode 2^32-1",
        "/artimeta.v1.RecordService/CommitRecord",
        lambda ns: records_pb2.CommitRecordRequest(namespace=ns, uuid="rec-1", entries=[_entry(2**32 - 1)]),
        {"INVALID_MODE"},
    ),
    (
        "PutRecords record nested beyond the parser's stack",
        CACHE + "PutRecords",
        lambda ns: cache_pb2.PutRecordsRequest(
            namespace=ns, records=[cache_pb2.CacheRecord(id="job-1", json="[" * 100_000 + "]" * 100_000)]
        ),
        {"INVALID_RECORD"},
    ),
    (
        "PutRecords job with a time that does not parse",
        CACHE + "PutRecords",
        lambda ns: cache_pb2.PutRecordsRequest(
            namespace=ns,
            records=[
                cache_pb2.CacheRecord(
                    id="job-1",
                    json='{"_type":"Job","id":"job-1","task_hash":"t","execution_id":"e","start_time":"yesterday"}',
                )
            ],
        ),
        {"INVALID_RECORD"},
    ),
    *[
        (
            f"page token {label}",
            "/artimeta.v1.ConnectionService/ListGraphs",
            lambda ns, text=text: connection_pb2.ListGraphsRequest(namespace=ns, page_token=_token(text)),
            {"INVALID_PAGE_TOKEN"},
        )
        for label, text in [
            ("with a NUL", '["graphs",["a\\u0000",1]]'),
            ("with a lone surrogate", '["graphs",["\\ud800",1]]'),
            ("beyond int64", f'["graphs",["a",{2**64}]]'),
            ("nested 100,000 deep", '["graphs",' + "[" * 100_000 + "]" * 100_000 + "]"),
            ("NaN", '["graphs",["a",NaN]]'),
        ]
    ],
    (
        "records page token with a dict",
        "/artimeta.v1.RecordService/ListRecords",
        lambda ns: records_pb2.ListRecordsRequest(namespace=ns, page_token=_token('["records",[{"a":1}]]')),
        {"INVALID_PAGE_TOKEN"},
    ),
    (
        "namespaces page token beyond int64",
        "/artimeta.v1.NamespaceService/ListNamespaces",
        lambda ns: namespace_pb2.ListNamespacesRequest(page_token=_token(f'["ns",[{2**70}]]')),
        {"INVALID_PAGE_TOKEN"},
    ),
]


def _reason(exc: grpc.RpcError) -> str:
    for key, value in exc.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info.reason
    return ""


async def _refused(
    channel: grpc.aio.Channel, path: str, raw: bytes | list[bytes], streaming: bool = False
) -> tuple[Any, str]:
    try:
        if streaming:
            assert isinstance(raw, list)
            await channel.stream_unary(path)(iter(raw), timeout=20)
        else:
            await channel.unary_unary(path)(raw, timeout=20)
    except grpc.RpcError as exc:
        return exc.code(), _reason(exc)
    return grpc.StatusCode.OK, ""


@pytest.fixture
async def channel(target: str) -> Any:
    async with grpc.aio.insecure_channel(target) as ch:
        yield ch


@pytest.mark.parametrize(("what", "path", "build", "reasons"), CASES, ids=[c[0] for c in CASES])
async def test_bad_input_is_invalid_argument_with_a_reason_and_writes_nothing(
    what: str, path: str, build: Build, reasons: set[str], server: Server, channel: Any, namespace: str
) -> None:
    snapshot = await Snapshot.of(server, namespace)
    before = await snapshot.take()
    code, reason = await _refused(channel, path, build(namespace).SerializeToString())
    assert (code, reason in reasons) == (grpc.StatusCode.INVALID_ARGUMENT, True), (what, code, reason)
    assert await snapshot.take() == before


BAD_UTF8 = b"\xed\xa0\x80\xff"


async def test_invalid_utf8_inside_an_upload_stream_is_invalid_argument(
    server: Server, channel: Any, namespace: str
) -> None:
    snapshot = await Snapshot.of(server, namespace)
    before = await snapshot.take()
    data = b"hello upload"
    import hashlib

    digest = digest_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    first = blobs_pb2.UploadRequest(namespace=namespace, digest=digest, data=data[:5]).SerializeToString()
    # The second message names a namespace of the same length whose bytes are not UTF-8.
    second = blobs_pb2.UploadRequest(namespace="zzzz", data=data[5:]).SerializeToString().replace(b"zzzz", BAD_UTF8)
    code, reason = await _refused(channel, "/artimeta.v1.BlobService/Upload", [first, second], streaming=True)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MESSAGE")
    assert await snapshot.take() == before
    # A unary request that does not parse is refused the same way.
    raw = namespace_pb2.GetNamespaceRequest(name="zzzz").SerializeToString().replace(b"zzzz", BAD_UTF8)
    code, reason = await _refused(channel, "/artimeta.v1.NamespaceService/GetNamespace", raw)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_MESSAGE")
