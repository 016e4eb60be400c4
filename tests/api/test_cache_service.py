"""CacheService through gRPC: values, call nodes, the one-round-trip cache check, jobs, handles,
records, and what bad input gets."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

import grpc
import pytest

import artimeta
from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc, tags_pb2, tags_pb2_grpc
from artimeta_server.domain import content_hash
from artimeta_server.domain.digests import Digest
from artimeta_server.server import Server


def h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def value(text: str, size: int = 0) -> pb.CacheValue:
    data = text.encode() + os.urandom(size) if size else text.encode()
    return pb.CacheValue(value_hash=h(text), type_name="builtins.str", format="application/python-pickle", data=data)


@pytest.fixture
def stub(aclient: artimeta.AsyncClient) -> cache_pb2_grpc.CacheServiceStub:
    return aclient.stub(cache_pb2_grpc.CacheServiceStub)


async def test_values_are_insert_if_absent_and_large_ones_live_in_the_blob_store(
    aclient, stub, namespace, server: Server
):
    small, large = value("small"), value("large", 5000)
    r = await aclient.call(stub.RecordValues, pb.RecordValuesRequest(namespace=namespace, values=[small, large]))
    assert r.created == 2
    other = pb.CacheValue(value_hash=small.value_hash, type_name="x", format="y", data=b"different")
    r = await aclient.call(stub.RecordValues, pb.RecordValuesRequest(namespace=namespace, values=[other, large]))
    assert r.created == 0
    got = await aclient.call(
        stub.GetValues,
        pb.GetValuesRequest(namespace=namespace, value_hashes=[large.value_hash, h("nope"), small.value_hash]),
    )
    assert [v.data for v in got.values] == [large.data, small.data]
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        row = await conn.fetchrow(
            "SELECT data, blob_hash, blob_size FROM cache_values WHERE value_hash = $1", large.value_hash
        )
    assert row["data"] is None and row["blob_hash"] == hashlib.sha256(large.data).hexdigest()


async def _call(aclient, stub, namespace, task: str, args: str, result: pb.CacheValue, children=(), subtree=()) -> str:
    r = await aclient.call(
        stub.RecordCallNode,
        pb.RecordCallNodeRequest(
            namespace=namespace,
            task_name=f"ns.{task}",
            task_hash=h(task),
            args_hash=h(args),
            result_hash=result.value_hash,
            child_call_hashes=list(children),
            arguments=[pb.CallArgument(position=0, value_hash=result.value_hash)],
            subtree_task_hashes=[h(task), *subtree],
            values=[result],
        ),
    )
    return r.call_hash


async def test_call_node_hash_matches_redun_and_writes_are_idempotent(aclient, stub, namespace):
    result = value("r1")
    child = await _call(aclient, stub, namespace, "leaf", "a1", result)
    parent = await _call(aclient, stub, namespace, "root", "a0", result, children=[child], subtree=[h("leaf")])
    assert parent == content_hash.call_hash(h("root"), h("a0"), result.value_hash, [child])
    again = await _call(aclient, stub, namespace, "root", "a0", result, children=[child], subtree=[h("leaf")])
    assert again == parent
    node = await aclient.call(stub.GetCallNode, pb.GetCallNodeRequest(namespace=namespace, call_hash=parent))
    assert list(node.call_node.child_call_hashes) == [child]
    assert set(node.subtree_task_hashes) == {h("root"), h("leaf")}


def _check(namespace: str, task: str, args: str, **kw) -> pb.CheckCacheRequest:
    base: dict[str, Any] = dict(
        namespace=namespace,
        task_hash=h(task),
        args_hash=h(args),
        eval_hash=h(task + args),
        execution_id="exec-1",
        scheduler_task_hashes=[h(task)],
        scope=pb.CACHE_SCOPE_BACKEND,
        check=pb.CACHE_CHECK_FULL,
    )
    base.update(kw)
    return pb.CheckCacheRequest(**base)


async def test_check_cache_decision(aclient, stub, namespace):
    result = value("res")
    miss = await aclient.call(stub.CheckCache, _check(namespace, "t", "a"))
    assert miss.result == pb.CACHE_RESULT_KIND_MISS
    # SINGLE from the evaluation cache.
    await aclient.call(
        stub.SetEvalCache,
        pb.SetEvalCacheRequest(
            namespace=namespace,
            eval_hash=h("ta"),
            task_hash=h("t"),
            args_hash=h("a"),
            value_hash=result.value_hash,
            value=result,
        ),
    )
    hit = await aclient.call(stub.CheckCache, _check(namespace, "t", "a"))
    assert hit.result == pb.CACHE_RESULT_KIND_SINGLE and hit.value.data == b"res" and hit.call_hash == ""
    none = await aclient.call(stub.CheckCache, _check(namespace, "t", "a", scope=pb.CACHE_SCOPE_NONE))
    assert none.result == pb.CACHE_RESULT_KIND_MISS
    cse_only = await aclient.call(stub.CheckCache, _check(namespace, "t", "a", scope=pb.CACHE_SCOPE_CSE))
    assert cse_only.result == pb.CACHE_RESULT_KIND_MISS
    # ULTIMATE: a call node whose subtree tasks are all current.
    call = await _call(aclient, stub, namespace, "t", "a", result, subtree=[h("child-task")])
    shallow = _check(namespace, "t", "a", check=pb.CACHE_CHECK_SHALLOW, scheduler_task_hashes=[h("t"), h("child-task")])
    ult = await aclient.call(stub.CheckCache, shallow)
    assert ult.result == pb.CACHE_RESULT_KIND_ULTIMATE and ult.call_hash == call
    stale = _check(namespace, "t", "a", check=pb.CACHE_CHECK_SHALLOW, scheduler_task_hashes=[h("t")])
    assert (await aclient.call(stub.CheckCache, stale)).result == pb.CACHE_RESULT_KIND_SINGLE
    only_ult = _check(namespace, "t", "a", allowed_results=[pb.CACHE_RESULT_KIND_ULTIMATE], scheduler_task_hashes=[h("t")],
                      check=pb.CACHE_CHECK_SHALLOW)  # fmt: skip
    assert (await aclient.call(stub.CheckCache, only_ult)).result == pb.CACHE_RESULT_KIND_MISS
    # CSE: an ended job of the same execution.
    job = pb.Job(id="job-1", task_hash=h("t"), execution_id="exec-1", call_hash=call)
    await aclient.call(stub.RecordJobEnd, pb.RecordJobEndRequest(namespace=namespace, job=job))
    cse = await aclient.call(stub.CheckCache, _check(namespace, "t", "a"))
    assert cse.result == pb.CACHE_RESULT_KIND_CSE and cse.call_hash == call
    other_exec = await aclient.call(stub.CheckCache, _check(namespace, "t", "a", execution_id="exec-2"))
    assert other_exec.result == pb.CACHE_RESULT_KIND_SINGLE
    # A context hash restricts CSE/ULTIMATE to calls tagged with it.
    ctx = await aclient.call(stub.CheckCache, _check(namespace, "t", "a", context_hash=h("ctx")))
    assert ctx.result == pb.CACHE_RESULT_KIND_SINGLE
    tags = aclient.stub(tags_pb2_grpc.TagServiceStub)
    await aclient.call(
        tags.RecordTags,
        tags_pb2.RecordTagsRequest(
            namespace=namespace,
            entity_type=tags_pb2.TAG_ENTITY_TYPE_CALL_NODE,
            entity_id=call,
            tags=[tags_pb2.TagKeyValue(key="redun.context", value_json=json.dumps(h("ctx")))],
        ),
    )
    ctx = await aclient.call(stub.CheckCache, _check(namespace, "t", "a", context_hash=h("ctx")))
    assert ctx.result == pb.CACHE_RESULT_KIND_CSE


async def test_a_hit_whose_bytes_are_gone_is_a_miss(aclient, stub, namespace, server: Server):
    big = value("big-result", 4096)
    await aclient.call(
        stub.SetEvalCache,
        pb.SetEvalCacheRequest(
            namespace=namespace,
            eval_hash=h("tb"),
            task_hash=h("t"),
            args_hash=h("b"),
            value_hash=big.value_hash,
            value=big,
        ),
    )
    hit = await aclient.call(stub.CheckCache, _check(namespace, "t", "b"))
    assert hit.result == pb.CACHE_RESULT_KIND_SINGLE and hit.value.data == big.data
    assert server.domain is not None
    ns_id = await server.domain.namespaces.resolve(namespace)
    from artimeta_server.storage.blobs.keys import cas_key

    blobs = server.domain.blob_store
    key = cas_key(ns_id, Digest.of(big.data))
    await asyncio.get_running_loop().run_in_executor(None, lambda: blobs._client.remove_object(blobs.bucket, key))
    miss = await aclient.call(stub.CheckCache, _check(namespace, "t", "b"))
    assert miss.result == pb.CACHE_RESULT_KIND_MISS
    got = await aclient.call(stub.GetValues, pb.GetValuesRequest(namespace=namespace, value_hashes=[big.value_hash]))
    assert list(got.values) == []


async def test_explain_cache_miss(aclient, stub, namespace):
    def explain(task_name: str, task: str, args: str) -> pb.ExplainCacheMissRequest:
        return pb.ExplainCacheMissRequest(
            namespace=namespace, task_name=task_name, task_hash=h(task), args_hash=h(args)
        )

    r = await aclient.call(stub.ExplainCacheMiss, explain("ns.t", "t", "a"))
    assert r.reason == pb.CACHE_MISS_REASON_NEW_CALL
    call = await _call(aclient, stub, namespace, "t", "a", value("x"))
    r = await aclient.call(stub.ExplainCacheMiss, explain("ns.t", "t-v2", "a"))
    assert r.reason == pb.CACHE_MISS_REASON_NEW_TASK and r.call_hash == call and r.call_task_hash == h("t")
    r = await aclient.call(stub.ExplainCacheMiss, explain("ns.t", "t", "other-args"))
    assert r.reason == pb.CACHE_MISS_REASON_NEW_ARGS and r.call_args_hash == h("a")


async def test_jobs_executions_and_handles(aclient, stub, namespace):
    await aclient.call(stub.RecordExecution, pb.RecordExecutionRequest(namespace=namespace, id="e1", args=["run", "x"]))
    await aclient.call(stub.RecordUpdatedTime, pb.RecordUpdatedTimeRequest(namespace=namespace, execution_id="e1"))
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(stub.GetJob, pb.GetJobRequest(namespace=namespace, id="j1"))
    assert err.value.reason == "JOB_NOT_FOUND"
    # The end of a job whose start was never recorded creates it.
    await aclient.call(
        stub.RecordJobEnd,
        pb.RecordJobEndRequest(
            namespace=namespace, job=pb.Job(id="j1", task_hash=h("t"), execution_id="e1", cached=True)
        ),
    )
    job = (await aclient.call(stub.GetJob, pb.GetJobRequest(namespace=namespace, id="j1"))).job
    assert job.cached and job.start_time == job.end_time and job.execution_id == "e1"
    # Handles: a -> b -> c, rollback of a invalidates b and c.
    hv = value("handle")

    def handle(name: str) -> pb.Handle:
        return pb.Handle(hash=h(name), fullname="db", key=name, value_hash=hv.value_hash)

    await aclient.call(
        stub.AdvanceHandle,
        pb.AdvanceHandleRequest(namespace=namespace, parents=[handle("a")], child=handle("b"), values=[hv]),
    )
    await aclient.call(
        stub.AdvanceHandle, pb.AdvanceHandleRequest(namespace=namespace, parents=[handle("b")], child=handle("c"))
    )
    valid = [
        (await aclient.call(stub.IsValidHandle, pb.IsValidHandleRequest(namespace=namespace, hash=h(n)))).valid
        for n in "abcd"
    ]
    assert valid == [True, True, True, False]
    r = await aclient.call(
        stub.RollbackHandle, pb.RollbackHandleRequest(namespace=namespace, hash=h("a"), fullname="db")
    )
    assert r.invalidated == 2
    valid = [
        (await aclient.call(stub.IsValidHandle, pb.IsValidHandleRequest(namespace=namespace, hash=h(n)))).valid
        for n in "abc"
    ]
    assert valid == [True, False, False]


async def test_records_sync_between_namespaces(aclient, stub, namespace):
    other = f"{namespace}-copy"
    await aclient.create_namespace(other)
    try:
        result = value("rec", 3000)
        child = await _call(aclient, stub, namespace, "leaf", "a", result)
        root = await _call(aclient, stub, namespace, "root", "b", value("small"), children=[child])
        await aclient.call(stub.RecordExecution, pb.RecordExecutionRequest(namespace=namespace, id="ex", args=["a"]))
        await aclient.call(
            stub.RecordJobEnd,
            pb.RecordJobEndRequest(
                namespace=namespace, job=pb.Job(id="job", task_hash=h("root"), execution_id="ex", call_hash=root)
            ),
        )
        ids = []
        async for batch in aclient.stream(
            stub.IterRecordIds, pb.IterRecordIdsRequest(namespace=namespace, root_ids=["ex"])
        ):
            ids.extend(batch.record_ids)
        assert ids[0] == "ex" and {"job", root, child, result.value_hash} <= set(ids)
        recs = (await aclient.call(stub.GetRecords, pb.GetRecordsRequest(namespace=namespace, ids=ids))).records
        assert [r.id for r in recs] == ids
        put = pb.PutRecordsRequest(namespace=other, records=list(reversed(recs)))
        assert (await aclient.call(stub.PutRecords, put)).created == len(ids)
        assert (await aclient.call(stub.PutRecords, put)).created == 0
        copied = (await aclient.call(stub.GetRecords, pb.GetRecordsRequest(namespace=other, ids=ids))).records
        assert [json.loads(r.json) for r in copied] == [json.loads(r.json) for r in recs] or len(copied) == len(recs)
        node = await aclient.call(stub.GetCallNode, pb.GetCallNodeRequest(namespace=other, call_hash=root))
        assert list(node.call_node.child_call_hashes) == [child]
        bad = pb.PutRecordsRequest(namespace=other, records=[pb.CacheRecord(id="x", json="{not json")])
        with pytest.raises(artimeta.InvalidArgument) as err:
            await aclient.call(stub.PutRecords, bad)
        assert err.value.reason == "INVALID_RECORD"
    finally:
        await aclient.delete_namespace(other)


async def test_bad_input_gets_clear_statuses(aclient, stub, namespace):
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(
            stub.RecordValues,
            pb.RecordValuesRequest(namespace=namespace, values=[pb.CacheValue(value_hash="xyz", type_name="t")]),
        )
    assert err.value.reason == "INVALID_HASH"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(stub.CheckCache, _check(namespace, "t", "a", eval_hash="A" * 40))
    assert err.value.reason == "INVALID_HASH"
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(stub.CheckCache, _check("no-such-namespace", "t", "a"))
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    # A batch with one bad value writes nothing.
    good = value("good")
    with pytest.raises(artimeta.InvalidArgument):
        await aclient.call(
            stub.RecordValues,
            pb.RecordValuesRequest(namespace=namespace, values=[good, pb.CacheValue(value_hash=h("b"), type_name="")]),
        )
    got = await aclient.call(stub.GetValues, pb.GetValuesRequest(namespace=namespace, value_hashes=[good.value_hash]))
    assert list(got.values) == []
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await aclient.call(
            stub.SetEvalCache,
            pb.SetEvalCacheRequest(
                namespace=namespace, eval_hash=h("e"), task_hash=h("t"), args_hash=h("a"), value_hash=h("v")
            ),
        )
    assert err.value.reason == "VALUE_NOT_RECORDED"


async def test_oversized_value_is_rejected(aclient, stub, namespace, settings):
    huge = pb.CacheValue(value_hash=h("huge"), type_name="t", data=b"x" * (settings.max_message_bytes + 10))
    with pytest.raises(artimeta.ArtimetaError) as err:
        await aclient.call(stub.RecordValues, pb.RecordValuesRequest(namespace=namespace, values=[huge]))
    assert err.value.code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT)


async def test_sixteen_writers_of_the_same_call_graph(aclient, stub, namespace, server: Server):
    result = value("shared", 2048)

    async def worker() -> str:
        await aclient.call(stub.RecordValues, pb.RecordValuesRequest(namespace=namespace, values=[result]))
        return await _call(aclient, stub, namespace, "t", "a", result, subtree=[h("x")])

    hashes = await asyncio.gather(*(worker() for _ in range(16)))
    assert len(set(hashes)) == 1
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        counts = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM cache_call_nodes WHERE call_hash = $1) AS nodes,
                      (SELECT count(*) FROM cache_values WHERE value_hash = $2) AS vals,
                      (SELECT count(*) FROM cache_arguments WHERE call_hash = $1) AS args""",
            hashes[0],
            result.value_hash,
        )
    assert dict(counts) == {"nodes": 1, "vals": 1, "args": 1}
