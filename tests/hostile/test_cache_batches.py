"""One caller cannot fail other tenants' cache checks. Concurrent CheckCache calls share one
batched statement (storage/batcher.py): a hostile check is refused before it can join a batch,
and a batch that Postgres rejects anyway is run again check by check, so only the check that
caused it fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
import pytest

import artimeta
from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc, consistency_pb2
from artimeta_server.domain.cache.models import CacheQuery
from artimeta_server.server import Server
from tests.api.test_cache_check_batches import _setup
from tests.api.test_cache_service import _check, h
from tests.conftest import unique_name


@pytest.fixture
def stub(aclient: artimeta.AsyncClient) -> cache_pb2_grpc.CacheServiceStub:
    return aclient.stub(cache_pb2_grpc.CacheServiceStub)


class Gate:
    """Holds the batch in flight until opened, so every check sent meanwhile queues into one batch."""

    def __init__(self, server: Server) -> None:
        assert server.domain is not None
        self.batcher = server.domain.cache._checks._candidates  # type: ignore[attr-defined]
        self.run = self.batcher._run
        self.open = asyncio.Event()
        self.sizes: list[int] = []

    async def _gated(self, keys: Sequence[Any]) -> Any:
        self.sizes.append(len(keys))
        await self.open.wait()
        return await self.run(keys)

    def __enter__(self) -> Gate:
        self.batcher._run = self._gated
        return self

    def __exit__(self, *exc: object) -> None:
        self.batcher._run = self.run


async def _outcome(aclient: artimeta.AsyncClient, stub: Any, request: pb.CheckCacheRequest) -> Any:
    try:
        return await aclient.call(stub.CheckCache, request)
    except artimeta.ArtimetaError as exc:
        return (exc.code, exc.reason)


async def test_a_hostile_check_fails_alone_and_the_other_tenants_checks_of_its_batch_answer(
    aclient: artimeta.AsyncClient, stub: Any, namespace: str, server: Server
) -> None:
    hostile_ns = unique_name("hostile")
    await aclient.create_namespace(hostile_ns)
    try:
        good = await _setup(aclient, stub, namespace)
        for request in good:  # hits remembered in memory would never reach the batch under test
            request.consistency = consistency_pb2.READ_CONSISTENCY_STRONG
        alone = [await aclient.call(stub.CheckCache, r) for r in good]
        shallow = {"check": pb.CACHE_CHECK_SHALLOW}
        hostile = [
            _check(hostile_ns, "t2", "a2", scheduler_task_hashes=[h("t2"), "\x00"], **shallow),
            _check(hostile_ns, "t2", "a2", scheduler_task_hashes=["a\x00b" * 10], **shallow),
            _check(hostile_ns, "t2", "a2", scheduler_task_hashes=[f"{h('a')},{h('b')}"], **shallow),
        ]
        with Gate(server) as gate:
            first = asyncio.ensure_future(aclient.call(stub.CheckCache, good[0]))
            while not gate.sizes:
                await asyncio.sleep(0.005)
            mixed = [good[1], hostile[0], *good[2:5], hostile[1], *good[5:], hostile[2]]
            rest = [asyncio.ensure_future(_outcome(aclient, stub, r)) for r in mixed]
            await asyncio.sleep(0.2)  # every check of `mixed` has arrived and queued behind the first
            gate.open.set()
            outcomes = [await first, *await asyncio.gather(*rest)]
        got_good = [outcomes[0], outcomes[1], *outcomes[3:6], *outcomes[7:-1]]
        assert got_good == alone
        assert outcomes[2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CHARACTER")
        assert outcomes[6] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CHARACTER")
        assert outcomes[-1] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_HASH")
        assert max(gate.sizes) == len(good) - 1, gate.sizes  # the good checks did share one batch
    finally:
        await aclient.delete_namespace(hostile_ns, allow_missing=True)


async def test_a_batch_postgres_rejects_is_run_again_check_by_check(
    aclient: artimeta.AsyncClient, stub: Any, namespace: str, server: Server
) -> None:
    """Beneath the request checks: a query no check lets through (a NUL, which Postgres text
    cannot hold) is put straight into the repository's batch beside good ones."""
    assert server.domain is not None
    good = await _setup(aclient, stub, namespace)
    alone = [await aclient.call(stub.CheckCache, r) for r in good[:2]]
    assert [r.result for r in alone] == [pb.CACHE_RESULT_KIND_SINGLE, pb.CACHE_RESULT_KIND_ULTIMATE]
    async with server.domain.db.connection() as conn:
        ns_id = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", namespace)
    repo = server.domain.cache._checks

    def query(sched: list[str], **kw: Any) -> CacheQuery:
        base: dict[str, Any] = dict(
            task_hash=h("t2"),
            args_hash=h("a2"),
            eval_hash=h("t2a2"),
            execution_id="",
            scheduler_task_hashes=sched,
            context_hash=None,
            want_cse=False,
            want_ultimate=True,
            want_single=False,
        )
        base.update(kw)
        return CacheQuery(**base)

    ultimate = query([h("t2"), h("child-task")])
    single = query([], task_hash=h("t1"), args_hash=h("a1"), eval_hash=h("t1a1"), want_ultimate=False, want_single=True)
    poison = query([h("t2"), "bad\x00"])
    with Gate(server) as gate:
        first = asyncio.ensure_future(repo.cache_candidates(ns_id, single))
        while not gate.sizes:
            await asyncio.sleep(0.005)
        calls = [asyncio.ensure_future(repo.cache_candidates(ns_id, q)) for q in (ultimate, poison, single, ultimate)]
        await asyncio.sleep(0.1)
        gate.open.set()
        results: list[Any] = await asyncio.gather(first, *calls, return_exceptions=True)
    assert gate.sizes[:2] == [1, 4], gate.sizes  # the four shared a batch, then ran alone
    assert isinstance(results[2], Exception) and "0x00" in str(results[2])
    for i in (0, 1, 3, 4):
        assert isinstance(results[i], list) and results[i], results[i]
    assert [c.kind for c in results[1]] == ["ULTIMATE"] and results[1] == results[4]
    assert [c.kind for c in results[0]] == ["SINGLE"] and results[0] == results[3]
