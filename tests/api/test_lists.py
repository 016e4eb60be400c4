"""ListExecutions (CacheService) and ListOps (OpStoreService) through gRPC: newest first / by name,
keyset pages to the end, page size limits, empty namespaces, and bad tokens or sizes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import artimeta
from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc, opstore_pb2, opstore_pb2_grpc
from artimeta_server.domain.pagination import encode_token
from artimeta_server.server import Server


def h(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture
def cache(aclient: artimeta.AsyncClient) -> cache_pb2_grpc.CacheServiceStub:
    return aclient.stub(cache_pb2_grpc.CacheServiceStub)


@pytest.fixture
def ops(aclient: artimeta.AsyncClient) -> opstore_pb2_grpc.OpStoreServiceStub:
    return aclient.stub(opstore_pb2_grpc.OpStoreServiceStub)


async def _all_pages(aclient: artimeta.AsyncClient, method: Any, request: Any, field: str) -> tuple[list[Any], int]:
    items: list[Any] = []
    pages = 0
    while True:
        page = await aclient.call(method, request)
        pages += 1
        items.extend(getattr(page, field))
        if not page.next_page_token:
            return items, pages
        request.page_token = page.next_page_token


async def _run(aclient: artimeta.AsyncClient, cache: Any, ns: str, exec_id: str, *, hits: int, misses: int) -> None:
    """An execution with a root job of task `main` (a recorded call node) and child jobs."""
    value = pb.CacheValue(value_hash=h("v"), type_name="builtins.int", format="pickle", data=b"1")
    call = await aclient.call(
        cache.RecordCallNode,
        pb.RecordCallNodeRequest(
            namespace=ns,
            task_name="demo.main",
            task_hash=h("main"),
            args_hash=h(exec_id),
            result_hash=value.value_hash,
            subtree_task_hashes=[h("main")],
            values=[value],
        ),
    )
    await aclient.call(
        cache.RecordExecution, pb.RecordExecutionRequest(namespace=ns, id=exec_id, args=["redun", "run", exec_id])
    )
    root = f"{exec_id}-root"
    await aclient.call(
        cache.RecordJobStart,
        pb.RecordJobStartRequest(namespace=ns, job=pb.Job(id=root, task_hash=h("main"), execution_id=exec_id)),
    )
    for i in range(hits + misses):
        await aclient.call(
            cache.RecordJobEnd,
            pb.RecordJobEndRequest(
                namespace=ns,
                job=pb.Job(
                    id=f"{exec_id}-child-{i}",
                    task_hash=h("child"),
                    execution_id=exec_id,
                    parent_id=root,
                    cached=i < hits,
                    status="CACHED" if i < hits else "DONE",
                ),
            ),
        )
    await aclient.call(
        cache.RecordJobEnd,
        pb.RecordJobEndRequest(
            namespace=ns,
            job=pb.Job(id=root, task_hash=h("main"), execution_id=exec_id, call_hash=call.call_hash, status="DONE"),
        ),
    )


async def test_executions_newest_first_with_root_task_and_counts(aclient, cache, namespace: str) -> None:
    await _run(aclient, cache, namespace, "exec-a", hits=1, misses=2)
    await _run(aclient, cache, namespace, "exec-b", hits=0, misses=1)
    # An execution whose root job never started still lists, with what is known.
    await aclient.call(cache.RecordExecution, pb.RecordExecutionRequest(namespace=namespace, id="exec-c"))
    page = await aclient.call(cache.ListExecutions, pb.ListExecutionsRequest(namespace=namespace))
    assert [e.id for e in page.executions] == ["exec-c", "exec-b", "exec-a"]
    assert page.next_page_token == ""
    c, b, a = page.executions
    assert (a.job_count, a.cached_job_count) == (4, 1)
    assert (b.job_count, b.cached_job_count) == (2, 0)
    assert list(a.args) == ["redun", "run", "exec-a"]
    assert a.root_job_id == "exec-a-root" and a.root_task_hash == h("main") and a.root_task_name == "demo.main"
    assert a.status == "DONE" and a.HasField("start_time") and a.HasField("end_time")
    assert a.start_time.ToDatetime() <= a.end_time.ToDatetime()
    assert a.create_time.ToDatetime() <= b.create_time.ToDatetime() <= c.create_time.ToDatetime()
    assert (c.root_job_id, c.root_task_name, c.job_count, c.status) == ("", "", 0, "")
    assert not c.HasField("start_time")


async def test_executions_page_to_the_end_in_order(aclient, cache, namespace: str, server: Server) -> None:
    ids = [f"exec-{i:03d}" for i in range(23)]
    for exec_id in ids:
        await aclient.call(cache.RecordExecution, pb.RecordExecutionRequest(namespace=namespace, id=exec_id))
    # Several executions recorded in the same microsecond: the id breaks the tie, none is lost.
    assert server.domain is not None
    same = datetime(2030, 1, 1, tzinfo=UTC)
    async with server.domain.db.connection() as conn:
        await conn.execute(
            """UPDATE cache_executions SET create_time = $2
               WHERE namespace_id = (SELECT id FROM namespaces WHERE name = $1) AND id = ANY($3::text[])""",
            namespace,
            same,
            ids[:7],
        )
    listed, pages = await _all_pages(
        aclient, cache.ListExecutions, pb.ListExecutionsRequest(namespace=namespace, page_size=5), "executions"
    )
    assert pages == 5
    expected = sorted(ids[:7], reverse=True) + list(reversed(ids[7:]))
    assert [e.id for e in listed] == expected
    first = listed[0].create_time.ToDatetime(tzinfo=UTC)
    assert first == same and first - listed[-1].create_time.ToDatetime(tzinfo=UTC) > timedelta(days=1)


async def test_ops_by_name_with_version_counts_prefix_and_pages(aclient, ops, namespace: str) -> None:
    async def register(op: str, major: str, minor: str, patch: str, t: float, downstream: str = "") -> None:
        await aclient.call(
            ops.RegisterValidLink,
            opstore_pb2.RegisterValidLinkRequest(
                namespace=namespace,
                upstream_op_name=op,
                downstream_op_name=downstream,
                upstream_version=opstore_pb2.OpVersion(major=major, minor=minor, patch=patch, creation_time=t),
            ),
        )

    await register("featurize", "a", "1", "x", 1.0, downstream="train")
    await register("featurize", "a", "2", "x", 2.0)
    await register("featurize", "b", "1", "x", 3.0)
    await register("feature-select", "a", "1", "x", 4.0)
    for i in range(12):
        await register(f"op-{i:02d}", "a", "1", "x", 10.0 + i)
    page = await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, name_prefix="feat"))
    assert [(o.name, o.version_count) for o in page.ops] == [("feature-select", 1), ("featurize", 3)]
    latest = page.ops[1].latest_version
    assert (latest.major, latest.minor, latest.major_number, latest.minor_number, latest.creation_time) == (
        "b",
        "1",
        2,
        0,
        3.0,
    )
    listed, pages = await _all_pages(
        aclient, ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, page_size=4), "ops"
    )
    names = [o.name for o in listed]
    # "train" is only named as a downstream op: listed, with no versions.
    assert names == sorted(["feature-select", "featurize", "train", *[f"op-{i:02d}" for i in range(12)]])
    assert pages == 4
    train = next(o for o in listed if o.name == "train")
    assert train.version_count == 0 and not train.HasField("latest_version")
    prefixed, pages = await _all_pages(
        aclient, ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, name_prefix="op-", page_size=5), "ops"
    )
    assert [o.name for o in prefixed] == [f"op-{i:02d}" for i in range(12)] and pages == 3
    none = await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, name_prefix="zzz"))
    assert list(none.ops) == [] and none.next_page_token == ""


async def test_empty_namespace_lists_nothing(aclient, cache, ops, namespace: str) -> None:
    e = await aclient.call(cache.ListExecutions, pb.ListExecutionsRequest(namespace=namespace))
    o = await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace))
    assert (list(e.executions), e.next_page_token, list(o.ops), o.next_page_token) == ([], "", [], "")


async def test_page_size_default_and_maximum(aclient, ops, namespace: str, server: Server) -> None:
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        await conn.execute(
            """INSERT INTO opstore_ops (namespace_id, name)
               SELECT (SELECT id FROM namespaces WHERE name = $1), 'op-' || lpad(i::text, 4, '0')
               FROM generate_series(1, 1005) i""",
            namespace,
        )
    default = await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace))
    assert len(default.ops) == 100 and default.next_page_token
    big = await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, page_size=5000))
    assert len(big.ops) == 1000 and big.ops[-1].name == "op-1000"
    rest = await aclient.call(
        ops.ListOps,
        opstore_pb2.ListOpsRequest(namespace=namespace, page_size=5000, page_token=big.next_page_token),
    )
    assert [o.name for o in rest.ops] == [f"op-{i:04d}" for i in range(1001, 1006)] and rest.next_page_token == ""


@pytest.mark.parametrize(
    ("method", "request_of", "reason"),
    [
        (
            "ListExecutions",
            lambda ns: pb.ListExecutionsRequest(namespace=ns, page_token="garbage"),
            "INVALID_PAGE_TOKEN",
        ),
        ("ListExecutions", lambda ns: pb.ListExecutionsRequest(namespace=ns, page_size=-1), "INVALID_PAGE_SIZE"),
        (
            "ListExecutions",
            lambda ns: pb.ListExecutionsRequest(namespace=ns, page_token=encode_token("executions", [10**20, "x"])),
            "INVALID_PAGE_TOKEN",
        ),
        (
            "ListExecutions",
            lambda ns: pb.ListExecutionsRequest(namespace=ns, page_token=encode_token("executions", ["1", "x"])),
            "INVALID_PAGE_TOKEN",
        ),
        ("ListOps", lambda ns: opstore_pb2.ListOpsRequest(namespace=ns, page_token="garbage"), "INVALID_PAGE_TOKEN"),
        ("ListOps", lambda ns: opstore_pb2.ListOpsRequest(namespace=ns, page_size=-3), "INVALID_PAGE_SIZE"),
        ("ListOps", lambda ns: opstore_pb2.ListOpsRequest(namespace=ns, name_prefix="x" * 513), "FIELD_TOO_LONG"),
        ("ListOps", lambda ns: opstore_pb2.ListOpsRequest(namespace=ns, name_prefix="a\x00"), "INVALID_CHARACTER"),
    ],
)
async def test_bad_requests(aclient, cache, ops, namespace: str, method: str, request_of: Any, reason: str) -> None:
    stub = cache if method == "ListExecutions" else ops
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(getattr(stub, method), request_of(namespace))
    assert err.value.reason == reason


async def test_a_token_of_one_list_is_refused_by_the_other(aclient, cache, ops, namespace: str) -> None:
    for i in range(3):
        await aclient.call(cache.RecordExecution, pb.RecordExecutionRequest(namespace=namespace, id=f"e{i}"))
        await aclient.call(
            ops.RegisterValidLink,
            opstore_pb2.RegisterValidLinkRequest(
                namespace=namespace,
                upstream_op_name=f"op{i}",
                upstream_version=opstore_pb2.OpVersion(major="a", minor="b", patch="c", creation_time=1.0),
            ),
        )
    e = await aclient.call(cache.ListExecutions, pb.ListExecutionsRequest(namespace=namespace, page_size=1))
    o = await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, page_size=1))
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, page_token=e.next_page_token))
    assert err.value.reason == "INVALID_PAGE_TOKEN"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await aclient.call(
            cache.ListExecutions, pb.ListExecutionsRequest(namespace=namespace, page_token=o.next_page_token)
        )
    assert err.value.reason == "INVALID_PAGE_TOKEN"


async def test_unknown_namespace(aclient, cache, ops) -> None:
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(cache.ListExecutions, pb.ListExecutionsRequest(namespace="no-such-namespace"))
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    with pytest.raises(artimeta.NotFound) as err:
        await aclient.call(ops.ListOps, opstore_pb2.ListOpsRequest(namespace="no-such-namespace"))
    assert err.value.reason == "NAMESPACE_NOT_FOUND"


async def test_ops_are_in_byte_order_whatever_the_locale(aclient, ops, namespace: str) -> None:
    names = ["alpha", "Zeta", "éclair", "e-z", "ez", "e\U0010ffff", "zz", "é", "😀"]
    for name in names:
        await aclient.call(
            ops.RegisterValidLink,
            opstore_pb2.RegisterValidLinkRequest(
                namespace=namespace,
                upstream_op_name=name,
                upstream_version=opstore_pb2.OpVersion(major="a", minor="b", patch="c", creation_time=1.0),
            ),
        )
    listed, _ = await _all_pages(
        aclient, ops.ListOps, opstore_pb2.ListOpsRequest(namespace=namespace, page_size=2), "ops"
    )
    assert [o.name for o in listed] == sorted(names)
    for prefix in ("e", "é", "e\U0010ffff", "Z", "😀", "z"):
        got, _ = await _all_pages(
            aclient,
            ops.ListOps,
            opstore_pb2.ListOpsRequest(namespace=namespace, name_prefix=prefix, page_size=1),
            "ops",
        )
        assert [o.name for o in got] == sorted(n for n in names if n.startswith(prefix)), prefix
