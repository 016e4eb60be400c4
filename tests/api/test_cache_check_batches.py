"""Concurrent CheckCache calls share set-based statements: every answer, in every namespace, is the
one the same check gets alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

import artimeta
from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc
from artimeta_server.server import Server
from tests.api.test_cache_service import _call, _check, h, value
from tests.conftest import unique_name


@pytest.fixture
def stub(aclient: artimeta.AsyncClient) -> cache_pb2_grpc.CacheServiceStub:
    return aclient.stub(cache_pb2_grpc.CacheServiceStub)


async def _setup(aclient, stub, namespace: str) -> list[pb.CheckCacheRequest]:
    result = value(f"res-{namespace}")
    await aclient.call(
        stub.SetEvalCache,
        pb.SetEvalCacheRequest(
            namespace=namespace,
            eval_hash=h("t1a1"),
            task_hash=h("t1"),
            args_hash=h("a1"),
            value_hash=result.value_hash,
            value=result,
        ),
    )
    await _call(aclient, stub, namespace, "t2", "a2", result, subtree=[h("child-task")])
    cse_call = await _call(aclient, stub, namespace, "t3", "a3", result)
    job = pb.Job(id="job-1", task_hash=h("t3"), execution_id="exec-1", call_hash=cse_call)
    await aclient.call(stub.RecordJobEnd, pb.RecordJobEndRequest(namespace=namespace, job=job))
    shallow = {"check": pb.CACHE_CHECK_SHALLOW}
    return [
        _check(namespace, "t1", "a1"),  # SINGLE
        _check(namespace, "t2", "a2", scheduler_task_hashes=[h("t2"), h("child-task")], **shallow),  # ULTIMATE
        _check(namespace, "t2", "a2", scheduler_task_hashes=[h("t2")], **shallow),  # stale subtree: MISS
        _check(namespace, "t2", "a2", scheduler_task_hashes=[], **shallow),  # MISS
        _check(namespace, "t3", "a3"),  # CSE
        _check(namespace, "t3", "a3", execution_id="exec-2"),  # other execution: MISS
        _check(namespace, "t3", "a3", context_hash=h("ctx")),  # untagged context: MISS
        _check(namespace, "t1", "a1", scope=pb.CACHE_SCOPE_CSE),  # MISS
        _check(namespace, "unknown", "a1"),  # MISS
    ]


async def test_concurrent_checks_in_several_namespaces_get_the_answers_they_get_alone(
    aclient: artimeta.AsyncClient, stub, namespace: str, server: Server
):
    other = unique_name()
    await aclient.create_namespace(other)
    try:
        requests = [*await _setup(aclient, stub, namespace), *await _setup(aclient, stub, other)]
        alone = [await aclient.call(stub.CheckCache, r) for r in requests]
        kinds = [r.result for r in alone[:9]]
        assert kinds == [
            pb.CACHE_RESULT_KIND_SINGLE,
            pb.CACHE_RESULT_KIND_ULTIMATE,
            *[pb.CACHE_RESULT_KIND_MISS] * 2,
            pb.CACHE_RESULT_KIND_CSE,
            *[pb.CACHE_RESULT_KIND_MISS] * 4,
        ]
        assert alone[1].subtree_task_hashes == sorted([h("t2"), h("child-task")])
        assert alone[0].value.data != alone[9].value.data  # each namespace answers with its own value

        assert server.domain is not None
        batcher = server.domain.cache._checks._candidates  # type: ignore[attr-defined]
        run = batcher._run
        sizes: list[int] = []

        async def counting(keys: Sequence[object]) -> object:
            sizes.append(len(keys))
            await asyncio.sleep(0.02)  # a slow statement: the checks that arrive meanwhile queue up
            return await run(keys)

        batcher._run = counting
        try:
            for _ in range(3):
                together = await asyncio.gather(*(aclient.call(stub.CheckCache, r) for r in requests * 4))
                assert together == alone * 4
        finally:
            batcher._run = run
        assert max(sizes) > 1, sizes
    finally:
        await aclient.delete_namespace(other, allow_missing=True)
