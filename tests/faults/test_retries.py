"""Every mutation that takes a request_id, through a proxy that loses the reply after the server
committed: the client's own retry (same request_id, filled in by the client) ends with the answer
the first attempt committed, and the work is done once. A call whose retry would otherwise report
a false failure (ALREADY_EXISTS, NOT_FOUND, TAG_MOVED) or a different answer (deleted=false,
created=0, invalidated=0) shows it most plainly."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

import artimeta
from artimeta import retries
from artimeta.blobs import AsyncBlobs
from artimeta.v1 import (
    blobs_pb2,
    blobs_pb2_grpc,
    cache_pb2,
    cache_pb2_grpc,
    connection_pb2,
    connection_pb2_grpc,
    graph_pb2,
    namespace_pb2,
    namespace_pb2_grpc,
    opstore_pb2,
    opstore_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
    tags_pb2,
    tags_pb2_grpc,
)
from artimeta_server.server import Server
from tests.conftest import unique_name
from tests.faultproxy import FaultProxy

H = "a" * 40


def h(s: str) -> str:
    import hashlib

    return hashlib.sha1(s.encode()).hexdigest()


@pytest.fixture(scope="module")
def proxy(target: str) -> Iterator[FaultProxy]:
    with FaultProxy(target) as p:
        yield p


@pytest.fixture
async def flaky(proxy: FaultProxy) -> AsyncIterator[artimeta.AsyncClient]:
    """A client through the proxy, with the default retry policy."""
    async with artimeta.AsyncClient(proxy.target, timeout=20) as client:
        yield client


async def lost_once(proxy: FaultProxy, call: Callable[[], Awaitable[Any]]) -> Any:
    """Runs call() with the reply to its first attempt lost; checks that it was, and retried."""
    calls, dropped = proxy.calls, proxy.dropped
    proxy.drop_reply(1)
    result = await call()
    assert proxy.dropped == dropped + 1, "the proxy lost no reply"
    assert proxy.calls >= calls + 2, "the client did not retry"
    return result


async def ledger_rows(server: Server, method: str) -> int:
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        n: int = await conn.fetchval("SELECT count(*) FROM request_ledger WHERE method = $1", method)
    return n


# --- ConnectionService ---


async def test_write_snapshot_tag_compare_and_swap(aclient, flaky, proxy, namespace):
    s = aclient.stub(connection_pb2_grpc.ConnectionServiceStub)
    for fp in (1, 2):
        snap = graph_pb2.GraphSnapshot(name="g", fingerprint=fp, id=fp, graph_fingerprint=1, document=b"s")
        await aclient.call(s.WriteSnapshot, connection_pb2.WriteSnapshotRequest(namespace=namespace, snapshot=snap))
    tag = connection_pb2.WriteSnapshotTagRequest(namespace=namespace, name="g", tag="prod", snapshot_fingerprint=1)
    await aclient.call(s.WriteSnapshotTag, tag)
    move = connection_pb2.WriteSnapshotTagRequest(
        namespace=namespace, name="g", tag="prod", snapshot_fingerprint=2, expected_snapshot_fingerprint=1
    )
    fs = flaky.stub(connection_pb2_grpc.ConnectionServiceStub)
    r = await lost_once(proxy, lambda: flaky.call(fs.WriteSnapshotTag, move))  # not TAG_MOVED
    assert r.tag.snapshot_fingerprint == 2 and r.previous_snapshot_fingerprint == 1
    history = await aclient.call(
        s.ListSnapshotTagHistory,
        connection_pb2.ListSnapshotTagHistoryRequest(namespace=namespace, name="g", tag="prod"),
    )
    assert [(m.from_snapshot_fingerprint, m.to_snapshot_fingerprint) for m in history.moves] == [(1, 2), (0, 1)]


# --- BlobService ---


async def test_delete_blob(aclient, flaky, proxy, namespace):
    digest = await AsyncBlobs(aclient, namespace).put_bytes(b"to delete")
    fs = flaky.stub(blobs_pb2_grpc.BlobServiceStub)
    req = blobs_pb2.DeleteBlobRequest(namespace=namespace, digest=digest.to_proto())
    r = await lost_once(proxy, lambda: flaky.call(fs.DeleteBlob, req))
    assert r.deleted  # the retry does not report "deleted = false"


async def test_put_key(aclient, flaky, proxy, namespace):
    blobs = AsyncBlobs(aclient, namespace)
    a, b = await blobs.put_bytes(b"first"), await blobs.put_bytes(b"second")
    s = aclient.stub(blobs_pb2_grpc.BlobServiceStub)
    await aclient.call(s.PutKey, blobs_pb2.PutKeyRequest(namespace=namespace, key="k", digest=a.to_proto()))
    fs = flaky.stub(blobs_pb2_grpc.BlobServiceStub)
    req = blobs_pb2.PutKeyRequest(namespace=namespace, key="k", digest=b.to_proto())
    r = await lost_once(proxy, lambda: flaky.call(fs.PutKey, req))
    assert r.previous_digest == a.to_proto()  # a second put would name b as the previous one
    got = await aclient.call(s.GetKey, blobs_pb2.GetKeyRequest(namespace=namespace, key="k"))
    assert got.entry == r.entry  # same update time: written once


async def test_delete_key(aclient, flaky, proxy, namespace):
    digest = await AsyncBlobs(aclient, namespace).put_bytes(b"keyed")
    s = aclient.stub(blobs_pb2_grpc.BlobServiceStub)
    await aclient.call(s.PutKey, blobs_pb2.PutKeyRequest(namespace=namespace, key="k", digest=digest.to_proto()))
    fs = flaky.stub(blobs_pb2_grpc.BlobServiceStub)
    req = blobs_pb2.DeleteKeyRequest(namespace=namespace, key="k")
    r = await lost_once(proxy, lambda: flaky.call(fs.DeleteKey, req))  # not KEY_NOT_FOUND
    assert r.deleted


# --- CacheService ---


async def test_record_job_end(aclient, flaky, proxy, namespace):
    s = aclient.stub(cache_pb2_grpc.CacheServiceStub)
    await aclient.call(s.RecordExecution, cache_pb2.RecordExecutionRequest(namespace=namespace, id="e1", args=["x"]))
    fs = flaky.stub(cache_pb2_grpc.CacheServiceStub)
    req = cache_pb2.RecordJobEndRequest(
        namespace=namespace, job=cache_pb2.Job(id="j1", task_hash=H, execution_id="e1", status="DONE")
    )
    await lost_once(proxy, lambda: flaky.call(fs.RecordJobEnd, req))
    job = (await aclient.call(s.GetJob, cache_pb2.GetJobRequest(namespace=namespace, id="j1"))).job
    # Created by its end (start = end); a second end would have moved the end time alone.
    assert job.status == "DONE" and job.start_time == job.end_time


async def test_rollback_handle(aclient, flaky, proxy, namespace):
    s = aclient.stub(cache_pb2_grpc.CacheServiceStub)
    value = cache_pb2.CacheValue(
        value_hash=h("v"), type_name="builtins.str", format="application/python-pickle", data=b"v"
    )

    def handle(name: str) -> cache_pb2.Handle:
        return cache_pb2.Handle(hash=h(name), fullname="db", key=name, value_hash=value.value_hash)

    await aclient.call(
        s.AdvanceHandle,
        cache_pb2.AdvanceHandleRequest(namespace=namespace, parents=[handle("a")], child=handle("b"), values=[value]),
    )
    await aclient.call(
        s.AdvanceHandle, cache_pb2.AdvanceHandleRequest(namespace=namespace, parents=[handle("b")], child=handle("c"))
    )
    fs = flaky.stub(cache_pb2_grpc.CacheServiceStub)
    req = cache_pb2.RollbackHandleRequest(namespace=namespace, hash=h("a"), fullname="db")
    r = await lost_once(proxy, lambda: flaky.call(fs.RollbackHandle, req))
    assert r.invalidated == 2  # a second rollback would find nothing left to invalidate


async def test_put_records(aclient, flaky, proxy, namespace):
    s = aclient.stub(cache_pb2_grpc.CacheServiceStub)
    await aclient.call(s.RecordExecution, cache_pb2.RecordExecutionRequest(namespace=namespace, id="e1", args=["x"]))
    records = (await aclient.call(s.GetRecords, cache_pb2.GetRecordsRequest(namespace=namespace, ids=["e1"]))).records
    assert len(records) == 1
    other = unique_name()
    await aclient.create_namespace(other)
    try:
        fs = flaky.stub(cache_pb2_grpc.CacheServiceStub)
        req = cache_pb2.PutRecordsRequest(namespace=other, records=records)
        r = await lost_once(proxy, lambda: flaky.call(fs.PutRecords, req))
        assert r.created == 1  # a second put would count 0 new records
    finally:
        await aclient.delete_namespace(other, allow_missing=True)


# --- TagService ---


def kv(key: str, value: object) -> tags_pb2.TagKeyValue:
    return tags_pb2.TagKeyValue(key=key, value_json=json.dumps(value))


async def _history(aclient, namespace, key):
    s = aclient.stub(tags_pb2_grpc.TagServiceStub)
    got = await aclient.call(s.GetTagHistory, tags_pb2.GetTagHistoryRequest(namespace=namespace, entity_id=H, key=key))
    return list(got.tags)


async def _record(aclient, namespace, tags, **kw):
    s = aclient.stub(tags_pb2_grpc.TagServiceStub)
    req = tags_pb2.RecordTagsRequest(
        namespace=namespace, entity_type=tags_pb2.TAG_ENTITY_TYPE_VALUE, entity_id=H, tags=tags, **kw
    )
    return await aclient.call(s.RecordTags, req)


async def test_record_tags_update(aclient, flaky, proxy, namespace):
    await _record(aclient, namespace, [kv("env", "dev")])
    r = await lost_once(proxy, lambda: _record(flaky, namespace, [kv("env", "prod")], update=True))
    history = await _history(aclient, namespace, "env")
    # The dev tag and ONE prod tag superseding it: a second update would supersede the first.
    assert [json.loads(t.value_json) for t in history] == ["dev", "prod"]
    assert [t.tag_hash for t in r.tags] == [history[1].tag_hash]


async def test_delete_tags(aclient, flaky, proxy, namespace):
    await _record(aclient, namespace, [kv("env", "dev")])
    fs = flaky.stub(tags_pb2_grpc.TagServiceStub)
    req = tags_pb2.DeleteTagsRequest(namespace=namespace, entity_id=H, keys=["env"])
    r = await lost_once(proxy, lambda: flaky.call(fs.DeleteTags, req))
    assert len(r.tags) == 1
    current = await aclient.call(
        aclient.stub(tags_pb2_grpc.TagServiceStub).GetTags, tags_pb2.GetTagsRequest(namespace=namespace, entity_ids=[H])
    )
    assert not any(e.tags for e in current.entities)


async def test_update_tags(aclient, flaky, proxy, namespace):
    await _record(aclient, namespace, [kv("env", "dev")])
    fs = flaky.stub(tags_pb2_grpc.TagServiceStub)
    req = tags_pb2.UpdateTagsRequest(
        namespace=namespace,
        entity_type=tags_pb2.TAG_ENTITY_TYPE_VALUE,
        entity_id=H,
        old_keys=["env"],
        new_tags=[kv("env", "prod")],
    )
    r = await lost_once(proxy, lambda: flaky.call(fs.UpdateTags, req))
    history = await _history(aclient, namespace, "env")
    assert [json.loads(t.value_json) for t in history] == ["dev", "prod"]
    assert [t.tag_hash for t in r.tags] == [history[1].tag_hash]


# --- OpStoreService ---


def _version(t: float = 1000.5) -> opstore_pb2.OpVersion:
    return opstore_pb2.OpVersion(major=h("M"), minor=h("m"), patch=h("p"), creation_time=t)


async def test_save_op_bytes(aclient, flaky, proxy, namespace, server):
    s = aclient.stub(opstore_pb2_grpc.OpStoreServiceStub)
    await aclient.call(
        s.RegisterValidLink,
        opstore_pb2.RegisterValidLinkRequest(namespace=namespace, upstream_op_name="op", upstream_version=_version()),
    )
    fs = flaky.stub(opstore_pb2_grpc.OpStoreServiceStub)
    req = opstore_pb2.SaveOpBytesRequest(namespace=namespace, op_name="op", version=_version(), op_bytes=b"model")
    before = await ledger_rows(server, "/artimeta.v1.OpStoreService/SaveOpBytes")
    await lost_once(proxy, lambda: flaky.call(fs.SaveOpBytes, req))
    assert await ledger_rows(server, "/artimeta.v1.OpStoreService/SaveOpBytes") == before + 1
    got = await aclient.call(
        s.GetOpBytes, opstore_pb2.GetOpBytesRequest(namespace=namespace, op_name="op", version=_version())
    )
    assert got.op_bytes == b"model"
    versions = await aclient.call(
        s.GetAllVersionsOfOp, opstore_pb2.GetAllVersionsOfOpRequest(namespace=namespace, op_name="op")
    )
    assert len(versions.versions) == 1


async def test_register_pipeline(aclient, flaky, proxy, namespace, server):
    s = aclient.stub(opstore_pb2_grpc.OpStoreServiceStub)
    fs = flaky.stub(opstore_pb2_grpc.OpStoreServiceStub)
    req = opstore_pb2.RegisterPipelineRequest(namespace=namespace, pipeline_name="p", last_op_name="op")
    before = await ledger_rows(server, "/artimeta.v1.OpStoreService/RegisterPipeline")
    await lost_once(proxy, lambda: flaky.call(fs.RegisterPipeline, req))
    assert await ledger_rows(server, "/artimeta.v1.OpStoreService/RegisterPipeline") == before + 1
    got = await aclient.call(
        s.PipelineExists, opstore_pb2.PipelineExistsRequest(namespace=namespace, pipeline_name="p")
    )
    assert got.exists


# --- RecordService ---


async def test_commit_and_delete_record(aclient, flaky, proxy, namespace):
    digest = await AsyncBlobs(aclient, namespace).put_bytes(b"file")
    fs = flaky.stub(records_pb2_grpc.RecordServiceStub)
    commit = records_pb2.CommitRecordRequest(
        namespace=namespace,
        uuid="rec000000001",
        entries=[records_pb2.RecordEntry(path="a", kind=records_pb2.RECORD_ENTRY_KIND_FILE, digest=digest.to_proto())],
    )
    r = await lost_once(proxy, lambda: flaky.call(fs.CommitRecord, commit))
    assert r.created  # a second commit would report an update
    delete = records_pb2.DeleteRecordRequest(namespace=namespace, uuid="rec000000001")
    r = await lost_once(proxy, lambda: flaky.call(fs.DeleteRecord, delete))  # not RECORD_NOT_FOUND
    assert r.deleted


# --- NamespaceService ---


async def test_create_and_delete_namespace(aclient, flaky, proxy):
    name = unique_name()
    fs = flaky.stub(namespace_pb2_grpc.NamespaceServiceStub)
    create = namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name=name, description="d"))
    r = await lost_once(proxy, lambda: flaky.call(fs.CreateNamespace, create))  # not NAMESPACE_EXISTS
    assert r.namespace.name == name and r.namespace.description == "d"
    delete = namespace_pb2.DeleteNamespaceRequest(name=name)
    r = await lost_once(proxy, lambda: flaky.call(fs.DeleteNamespace, delete))  # not NAMESPACE_NOT_FOUND
    assert r.deleted


# --- the rules themselves ---


def test_every_request_id_mutation_is_proven_here():
    """A new mutation with a request_id needs its dropped-reply test in this file."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    untested = [
        path
        for path, cls in retries.retry_classes().items()
        if cls == retries.REQUEST_ID
        and f"fs.{path.rpartition('/')[2]}" not in source
        and path.rpartition("/")[2] not in ("RecordTags",)
    ]
    assert untested == []


async def test_same_request_id_same_answer_different_body_refused(aclient, namespace):
    rid = str(uuid.uuid4())
    first = await _record(aclient, namespace, [kv("env", "dev")], update=True, request_id=rid)
    again = await _record(aclient, namespace, [kv("env", "dev")], update=True, request_id=rid)
    assert again == first
    assert len(await _history(aclient, namespace, "env")) == 1
    with pytest.raises(artimeta.InvalidArgument) as err:
        await _record(aclient, namespace, [kv("env", "prod")], update=True, request_id=rid)
    assert err.value.reason == "REQUEST_ID_REUSED"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await _record(aclient, namespace, [kv("env", "dev")], request_id="not-a-uuid")
    assert err.value.reason == "INVALID_REQUEST_ID"


async def test_a_remembered_error_is_answered_again(aclient, namespace):
    s = aclient.stub(blobs_pb2_grpc.BlobServiceStub)
    rid = str(uuid.uuid4())
    req = blobs_pb2.DeleteKeyRequest(namespace=namespace, key="absent", request_id=rid)
    for _ in range(2):
        with pytest.raises(artimeta.NotFound) as err:
            await aclient.call(s.DeleteKey, req)
        assert err.value.reason == "KEY_NOT_FOUND"
    # Created meanwhile: the remembered answer still stands for that request id.
    digest = await AsyncBlobs(aclient, namespace).put_bytes(b"now")
    await aclient.call(s.PutKey, blobs_pb2.PutKeyRequest(namespace=namespace, key="absent", digest=digest.to_proto()))
    with pytest.raises(artimeta.NotFound):
        await aclient.call(s.DeleteKey, req)


async def test_client_fills_a_request_id_once_per_call(aclient, namespace, server):
    """Two logical calls without request_id are two calls (each gets its own id)."""
    before = await ledger_rows(server, "/artimeta.v1.TagService/RecordTags")
    await _record(aclient, namespace, [kv("env", "dev")], update=True)
    await _record(aclient, namespace, [kv("env", "dev")], update=True)
    assert await ledger_rows(server, "/artimeta.v1.TagService/RecordTags") == before + 2
    assert len(await _history(aclient, namespace, "env")) == 2


@pytest.fixture(scope="module")
async def short_memory(stack) -> AsyncIterator[Server]:
    from tests.conftest import settings_for

    srv = Server(settings_for(stack, request_id_retention_s=1.0, janitor_interval_s=3600))
    await srv.start(migrate_schema=True)
    yield srv
    await srv.stop(0.5)


async def test_request_ids_are_forgotten_after_the_retention_window(short_memory):
    assert short_memory.domain is not None
    async with artimeta.AsyncClient(f"127.0.0.1:{short_memory.port}", timeout=20) as client:
        name = unique_name()
        s = client.stub(namespace_pb2_grpc.NamespaceServiceStub)
        rid = str(uuid.uuid4())
        create = namespace_pb2.CreateNamespaceRequest(namespace=namespace_pb2.Namespace(name=name), request_id=rid)
        await client.call(s.CreateNamespace, create)
        await client.call(s.CreateNamespace, create)  # remembered
        await asyncio.sleep(1.2)
        with pytest.raises(artimeta.AlreadyExists):  # forgotten: it runs again
            await client.call(s.CreateNamespace, create)
        await asyncio.sleep(1.2)
        assert await short_memory.domain.request_ids.forget_expired() >= 1
        async with short_memory.domain.db.connection() as conn:
            left = await conn.fetchval("SELECT count(*) FROM request_ledger WHERE request_id = $1", uuid.UUID(rid))
        assert left == 0
        await client.delete_namespace(name)


async def test_an_unknown_namespace_fails_as_without_a_request_id(target):
    import grpc

    async with grpc.aio.insecure_channel(target) as channel:  # no client filling in request ids
        s = blobs_pb2_grpc.BlobServiceStub(channel)
        for namespace in (unique_name(), ""):
            answers = []
            for rid in ("", str(uuid.uuid4())):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await s.DeleteKey(blobs_pb2.DeleteKeyRequest(namespace=namespace, key="k", request_id=rid))
                answers.append((err.value.code(), err.value.details()))
            assert answers[0] == answers[1], answers
