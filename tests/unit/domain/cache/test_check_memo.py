"""Cache-check hits remembered in the replica's memory (domain/cache/check_memo.py): a hit is
answered without storage until a write to the namespace, an announcement from another replica,
the feed's loss or the entry's expiry; misses, STRONG checks, checks with a context and hits on
blob-stored values always ask storage."""

from __future__ import annotations

from typing import Any

import pytest

from artimeta_server.domain.cache.models import CacheCandidate, JobIn, StoredValue, ValueIn
from artimeta_server.domain.cache.service import Cache
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.fresh import FreshCache, cache_checks_key
from tests.unit.domain.cache.fakes import Fakes, fakes, h


def inline(label: str) -> StoredValue:
    data = label.encode()
    return StoredValue(h(label), "builtins.str", "", data, None, len(data))


def single(label: str) -> list[CacheCandidate]:
    return [CacheCandidate("SINGLE", None, inline(label))]


async def check(cache: Cache, namespace: str = "ns", **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        task_hash=h("task"),
        args_hash=h("args"),
        eval_hash=h("eval"),
        execution_id="exec-1",
        scheduler_task_hashes=[],
        scope="BACKEND",
        check="FULL",
        context_hash=None,
        allowed=[],
    )
    args.update(kw)
    return await cache.check_cache(namespace, **args)


@pytest.fixture
def f() -> Fakes:
    return fakes()


@pytest.fixture
def fresh() -> FreshCache[object]:
    cache: FreshCache[object] = FreshCache(max_bytes=1 << 20, ttl_s=60)
    cache.restored()  # the feed listens
    return cache


async def test_a_hit_is_served_from_memory_until_the_namespace_changes(f: Fakes, fresh: FreshCache[object]) -> None:
    cache = f.cache(fresh=fresh)
    f.checks.candidates[h("task")] = single("old")
    assert (await check(cache)).value.data == b"old"
    assert (await check(cache)).value.data == b"old"
    assert len(f.checks.queries) == 1
    # Another replica's write, announced: the next check asks storage.
    f.checks.candidates[h("task")] = single("new")
    fresh.changed([cache_checks_key(1)])
    assert (await check(cache)).value.data == b"new"
    assert len(f.checks.queries) == 2
    # A change in another namespace leaves this one's hits.
    fresh.changed([cache_checks_key(2)])
    assert (await check(cache)).value.data == b"new"
    assert len(f.checks.queries) == 2


@pytest.mark.parametrize("write", ["set_eval_cache", "add_values", "start_job", "end_job", "add_call_node", "put"])
async def test_every_local_write_forgets_the_namespace_hits_before_it_returns(
    f: Fakes, fresh: FreshCache[object], write: str
) -> None:
    cache = f.cache(fresh=fresh)
    f.checks.candidates[h("task")] = single("old")
    await check(cache)
    f.checks.candidates[h("task")] = single("new")
    value = ValueIn(h("v"), "builtins.str", "", b"v")
    match write:
        case "set_eval_cache":
            await cache.set_eval_cache(
                "ns", eval_hash=h("eval"), task_hash=h("task"), args_hash=h("args"), value_hash=h("v"), value=value
            )
        case "add_values":
            await cache.add_values("ns", [value])
        case "start_job":
            await cache.start_job("ns", JobIn("job-1", h("task"), "exec-1", None))
        case "end_job":
            await cache.end_job("ns", JobIn("job-1", h("task"), "exec-1", None))
        case "add_call_node":
            await cache.add_call_node(
                "ns",
                task_name="t",
                task_hash=h("task"),
                args_hash=h("args"),
                result_hash=h("v"),
                children=[],
                arguments=[],
                subtree_task_hashes=[],
                values=[value],
            )
        case "put":
            await cache.records.put_records("ns", [])
    assert (await check(cache)).value.data == b"new"


async def test_misses_are_never_remembered(f: Fakes, fresh: FreshCache[object]) -> None:
    cache = f.cache(fresh=fresh)
    assert (await check(cache)).kind == "MISS"
    f.checks.candidates[h("task")] = single("v")
    assert (await check(cache)).kind == "SINGLE"


async def test_strong_context_and_blob_values_always_ask_storage(f: Fakes, fresh: FreshCache[object]) -> None:
    cache = f.cache(fresh=fresh)
    f.checks.candidates[h("task")] = single("v")
    await check(cache)
    before = len(f.checks.queries)
    await check(cache, strong=True)
    await check(cache, context_hash=h("ctx"))
    await check(cache, context_hash=h("ctx"))
    assert len(f.checks.queries) == before + 3
    digest = await f.blobs.put(1, b"large bytes")
    f.checks.candidates[h("other")] = [
        CacheCandidate("SINGLE", None, StoredValue(h("large"), "t", "", None, Digest(digest.hash, digest.size), 11))
    ]
    for _ in range(2):
        assert (await check(cache, task_hash=h("other"))).value.data == b"large bytes"
    assert len(f.checks.queries) == before + 5


async def test_no_feed_no_memory_and_a_fill_that_lost_the_race_is_dropped(f: Fakes, fresh: FreshCache[object]) -> None:
    cache = f.cache(fresh=fresh)
    f.checks.candidates[h("task")] = single("v")
    fresh.lost()
    await check(cache)
    await check(cache)
    assert len(f.checks.queries) == 2
    fresh.restored()

    # A check that read storage before a write was announced must not keep what it read.
    class Racing:
        async def cache_candidates(self, ns: int, query: Any) -> list[CacheCandidate]:
            fresh.changed([cache_checks_key(ns)])
            return single("old")

    racing = fakes()
    racing.checks = Racing()  # type: ignore[assignment]
    raced = racing.cache(fresh=fresh)
    assert (await check(raced)).value.data == b"old"
    racing.checks = f.checks
    assert (await check(racing.cache(fresh=fresh))).value.data == b"v"


async def test_hits_are_remembered_per_query(f: Fakes, fresh: FreshCache[object]) -> None:
    cache = f.cache(fresh=fresh)
    f.checks.candidates[h("task")] = single("v")
    await check(cache)
    await check(cache, execution_id="exec-2")
    await check(cache, check="SHALLOW", scheduler_task_hashes=[h("task")])
    await check(cache)
    await check(cache, execution_id="exec-2")
    assert len(f.checks.queries) == 3
