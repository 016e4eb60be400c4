"""The cache decision: which candidate wins, when the check is not asked at all, and the
evaluation cache that SINGLE hits read."""

from __future__ import annotations

from typing import Any

import pytest

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.cache.models import CacheCandidate, StoredValue, ValueIn
from artimeta_server.domain.cache.service import Cache
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.reasons import Reason
from tests.unit.domain.cache.fakes import Fakes, add_call, fakes, h


def inline(label: str) -> StoredValue:
    data = label.encode()
    return StoredValue(h(label), "builtins.str", "", data, None, len(data))


async def check(cache: Cache, **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        task_hash=h("task"),
        args_hash=h("args"),
        eval_hash=h("eval"),
        execution_id="exec-1",
        scheduler_task_hashes=[h("task"), h("child")],
        scope="BACKEND",
        check="SHALLOW",
        context_hash=None,
        allowed=[],
    )
    args.update(kw)
    return await cache.check_cache("ns", **args)


@pytest.fixture
def f() -> Fakes:
    return fakes()


async def test_no_candidate_is_a_miss_and_the_query_asks_for_every_kind(f: Fakes) -> None:
    result = await check(f.cache())
    assert result.kind == "MISS" and result.value is None
    (q,) = f.checks.queries
    assert (q.want_cse, q.want_ultimate, q.want_single) == (True, True, True)
    assert q.scheduler_task_hashes == [h("task"), h("child")]


async def test_scope_none_misses_without_asking_storage(f: Fakes) -> None:
    f.checks.candidates[h("task")] = [CacheCandidate("SINGLE", None, inline("v"))]
    assert (await check(f.cache(), scope="NONE")).kind == "MISS"
    assert f.checks.queries == []


@pytest.mark.parametrize(
    ("kw", "wants"),
    [
        ({"scope": "CSE"}, (True, False, False)),  # only the execution's own calls
        ({"check": "FULL"}, (True, False, True)),  # a full check never takes the ultimate shortcut
        ({"execution_id": ""}, (False, True, True)),  # no execution: no CSE
        ({"allowed": ["SINGLE"]}, (False, False, True)),
        ({"allowed": ["ULTIMATE", "CSE"]}, (True, True, False)),
    ],
)
async def test_which_kinds_a_check_asks_for(f: Fakes, kw: dict[str, Any], wants: tuple[bool, bool, bool]) -> None:
    await check(f.cache(), **kw)
    (q,) = f.checks.queries
    assert (q.want_cse, q.want_ultimate, q.want_single) == wants


async def test_a_check_that_asks_for_nothing_misses_without_asking_storage(f: Fakes) -> None:
    assert (await check(f.cache(), scope="CSE", execution_id="")).kind == "MISS"
    assert f.checks.queries == []


async def test_the_first_readable_candidate_wins_and_a_call_hit_carries_its_subtree(f: Fakes) -> None:
    f.checks.candidates[h("task")] = [
        CacheCandidate("CSE", h("call-1"), inline("cse"), [h("t1")]),
        CacheCandidate("SINGLE", None, inline("single")),
    ]
    result = await check(f.cache())
    assert (result.kind, result.call_hash, result.value.data, result.subtree_task_hashes) == (
        "CSE",
        h("call-1"),
        b"cse",
        [h("t1")],
    )


async def test_a_candidate_whose_blob_is_gone_gives_way_to_the_next(f: Fakes) -> None:
    """A hit never points at missing bytes: the value's blob is absent, so the check falls through."""
    gone = StoredValue(h("big"), "builtins.bytes", "", None, Digest("0" * 64, 99), 99)
    f.checks.candidates[h("task")] = [
        CacheCandidate("ULTIMATE", h("call-1"), gone, []),
        CacheCandidate("SINGLE", None, inline("single")),
    ]
    result = await check(f.cache())
    assert (result.kind, result.call_hash, result.value.data) == ("SINGLE", None, b"single")
    assert result.subtree_task_hashes == []


async def test_a_candidate_without_a_value_row_is_skipped(f: Fakes) -> None:
    f.checks.candidates[h("task")] = [CacheCandidate("CSE", h("call-1"), None, [])]
    assert (await check(f.cache())).kind == "MISS"


async def test_a_blob_value_is_read_from_the_blob_store(f: Fakes) -> None:
    digest = await f.blobs.put(1, b"x" * 100)
    big = StoredValue(h("big"), "builtins.bytes", "", None, digest, 100)
    f.checks.candidates[h("task")] = [CacheCandidate("SINGLE", None, big)]
    result = await check(f.cache())
    assert (result.kind, result.value.data) == ("SINGLE", b"x" * 100)


async def test_a_call_hit_without_its_subtree_reads_it_from_the_call_node(f: Fakes) -> None:
    cache = f.cache()
    call = await add_call(cache, subtree=[h("b"), h("a"), h("b")], values=[ValueIn(h("v"), "builtins.str", "", b"v")])
    f.checks.candidates[h("task")] = [CacheCandidate("ULTIMATE", call, inline("v"), None)]
    result = await check(cache)
    assert result.subtree_task_hashes == sorted([h("a"), h("b")])
    # and an empty subtree when the node is gone meanwhile
    f.checks.candidates[h("task")] = [CacheCandidate("ULTIMATE", h("gone"), inline("v"), None)]
    assert (await check(cache)).subtree_task_hashes == []


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"task_hash": "nope"}, "task_hash"),
        ({"eval_hash": "A" * 40}, "eval_hash"),
        ({"context_hash": "x"}, "context_hash"),
        ({"scheduler_task_hashes": [h("ok"), "bad"]}, "scheduler_task_hashes"),
    ],
)
async def test_a_bad_hash_is_refused_before_it_joins_a_batch(f: Fakes, kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await check(f.cache(), **kw)
    assert exc.value.reason == Reason.INVALID_HASH and exc.value.metadata["field"] == field
    assert f.checks.queries == []


async def test_too_many_scheduler_tasks_are_refused(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await check(f.cache(), scheduler_task_hashes=[h("t")] * 10_001)
    assert exc.value.reason == Reason.TOO_MANY_ITEMS


async def test_an_unknown_namespace_is_not_found(f: Fakes) -> None:
    with pytest.raises(NotFound):
        await f.cache().check_cache(
            "missing",
            task_hash=h("t"),
            args_hash=h("a"),
            eval_hash=h("e"),
            execution_id="",
            scheduler_task_hashes=[],
            scope="BACKEND",
            check="FULL",
            context_hash=None,
            allowed=[],
        )


async def eval_cache(cache: Cache, value: ValueIn | None, value_hash: str = h("v")) -> None:
    await cache.set_eval_cache(
        "ns", eval_hash=h("e"), task_hash=h("t"), args_hash=h("a"), value_hash=value_hash, value=value
    )


async def test_eval_cache_with_its_value_records_both(f: Fakes) -> None:
    await eval_cache(f.cache(), ValueIn(h("v"), "builtins.int", "", b"1"))
    assert f.evaluations.rows == {(1, h("e")): h("v")}
    assert f.values.rows[(1, h("v"))].data == b"1"


async def test_eval_cache_of_a_value_not_recorded_is_a_failed_precondition(f: Fakes) -> None:
    with pytest.raises(FailedPrecondition) as exc:
        await eval_cache(f.cache(), None)
    assert exc.value.reason == Reason.VALUE_NOT_RECORDED and exc.value.metadata == {"value_hash": h("v")}
    assert f.evaluations.rows == {}


async def test_eval_cache_points_at_a_value_recorded_before(f: Fakes) -> None:
    cache = f.cache()
    assert await cache.add_values("ns", [ValueIn(h("v"), "builtins.int", "", b"1")]) == 1
    await eval_cache(cache, None)
    assert f.evaluations.rows == {(1, h("e")): h("v")}


async def test_eval_cache_refuses_a_value_of_another_hash(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await eval_cache(f.cache(), ValueIn(h("w"), "builtins.int", "", b"1"))
    assert exc.value.reason == Reason.INVALID_HASH
    assert f.values.rows == {}


async def test_the_call_hash_is_the_content_hash_of_task_args_result_and_children(f: Fakes) -> None:
    call = await add_call(f.cache(), children=[h("c1")])
    assert call == ch.call_hash(h("task"), h("args"), h("v"), [h("c1")])


async def _node(cache: Cache, task_name: str, task: str, args: str) -> str:
    return await add_call(cache, task_name=task_name, task=task, args=args)


async def test_a_miss_is_explained_by_the_closest_call_recorded(f: Fakes) -> None:
    cache = f.cache()
    explain = cache.explain_cache_miss
    assert (await explain("ns", "train", h("t-v2"), h("a1"))).reason == "new_call"
    old_args = await _node(cache, "train", "t-v2", "a0")
    miss = await explain("ns", "train", h("t-v2"), h("a1"))
    assert (miss.reason, miss.call_hash, miss.call_args_hash) == ("new_args", old_args, h("a0"))
    old_task = await _node(cache, "train", "t-v1", "a1")
    miss = await explain("ns", "train", h("t-v2"), h("a1"))  # the same name on these arguments wins
    assert (miss.reason, miss.call_hash, miss.call_task_hash) == ("new_task", old_task, h("t-v1"))
    assert (await explain("ns", "other", h("t-v3"), h("a1"))).reason == "new_call"
