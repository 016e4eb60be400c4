"""Values (inline or in the blob store), call nodes, executions, jobs and handles."""

from __future__ import annotations

import pytest

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.cache.models import CallArgument, HandleIn, JobIn, ValueIn
from artimeta_server.domain.errors import InvalidArgument, NotFound
from artimeta_server.domain.reasons import Reason
from tests.unit.domain.cache.fakes import NOW, Fakes, add_call, fakes, h


@pytest.fixture
def f() -> Fakes:
    return fakes()


def value(label: str, data: bytes) -> ValueIn:
    return ValueIn(h(label), "builtins.bytes", "", data)


async def test_small_values_stay_inline_and_large_ones_go_to_the_blob_store(f: Fakes) -> None:
    cache = f.cache(blob_threshold=16)
    assert await cache.add_values("ns", [value("small", b"s"), value("large", b"L" * 16), value("small", b"s")]) == 2
    small, large = f.values.rows[(1, h("small"))], f.values.rows[(1, h("large"))]
    assert (small.data, small.blob) == (b"s", None)
    assert large.data is None and large.blob is not None and large.size == 16
    assert f.blobs.objects[(1, large.blob.hash)] == b"L" * 16
    out = await cache.get_values("ns", [h("large"), h("missing"), h("small")])
    assert [(v.value_hash, v.data) for v in out] == [(h("large"), b"L" * 16), (h("small"), b"s")]


async def test_a_large_value_already_recorded_is_not_uploaded_again(f: Fakes) -> None:
    cache = f.cache(blob_threshold=16)
    await cache.add_values("ns", [value("large", b"L" * 20)])
    assert await cache.add_values("ns", [value("large", b"L" * 20)]) == 0
    assert f.blobs.puts == 1


async def test_a_value_whose_blob_is_gone_reads_as_absent(f: Fakes) -> None:
    cache = f.cache(blob_threshold=16)
    await cache.add_values("ns", [value("large", b"L" * 20)])
    f.blobs.objects.clear()
    assert await cache.get_values("ns", [h("large")]) == []


async def test_values_are_per_namespace(f: Fakes) -> None:
    cache = f.cache()
    await cache.add_values("ns", [value("v", b"1")])
    assert await cache.get_values("other", [h("v")]) == []


async def test_an_oversized_value_is_refused_naming_it(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await f.cache(max_value_bytes=4).add_values("ns", [value("a", b"1"), value("b", b"12345")])
    assert exc.value.reason == Reason.VALUE_TOO_LARGE
    assert exc.value.metadata == {"field": "values[1]", "limit": "4"}
    assert f.values.rows == {}


async def test_too_many_values_are_refused(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await f.cache().get_values("ns", [h("v")] * 10_001)
    assert exc.value.reason == Reason.TOO_MANY_ITEMS and exc.value.metadata == {"field": "value_hashes"}


async def test_a_call_node_gets_its_hashes_and_its_values_are_written_with_it(f: Fakes) -> None:
    cache = f.cache()
    arg = CallArgument(0, None, h("x"), [h("up"), h("up")])
    call = await add_call(cache, arguments=[arg], subtree=[h("s2"), h("s1"), h("s2")], values=[value("v", b"1")])
    (node,) = f.call_graph.inserted
    assert node.call_hash == call
    assert node.arguments == [(ch.argument_hash(call, 0, None, h("x")), arg)]
    assert node.subtree_task_hashes == sorted([h("s1"), h("s2")])
    assert (1, h("v")) in f.values.rows
    assert (await cache.get_call_node("ns", call)).task_name == "t"


async def test_a_call_node_with_a_bad_argument_is_refused_before_anything_is_written(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await add_call(f.cache(), arguments=[CallArgument(0, None, h("x"), ["bad"])], values=[value("v", b"1")])
    assert exc.value.metadata == {"field": "arguments.upstream_call_hashes"}
    assert f.call_graph.inserted == [] and f.values.rows == {}


async def test_a_missing_call_node_is_not_found(f: Fakes) -> None:
    with pytest.raises(NotFound) as exc:
        await f.cache().get_call_node("ns", h("nope"))
    assert exc.value.reason == Reason.CALL_NODE_NOT_FOUND and exc.value.metadata == {"call_hash": h("nope")}


async def test_touching_an_execution_needs_it_recorded(f: Fakes) -> None:
    cache = f.cache()
    with pytest.raises(NotFound) as exc:
        await cache.touch_execution("ns", "e1")
    assert exc.value.reason == Reason.EXECUTION_NOT_FOUND
    await cache.add_execution("ns", "e1", ["run"])
    await cache.touch_execution("ns", "e1")
    assert f.jobs.executions[(1, "e1")][2] > NOW


async def test_a_job_start_ignores_what_only_its_end_can_say(f: Fakes) -> None:
    """A start carrying a call hash (even a malformed one), cached or status stores none of them."""
    cache = f.cache()
    await cache.start_job("ns", JobIn("j1", h("task"), "e1", None, call_hash="not-a-hash", cached=True, status="DONE"))
    (started,) = f.jobs.started
    assert (started.call_hash, started.cached, started.status) == (None, False, None)
    job = await cache.get_job("ns", "j1")
    assert (job.call_hash, job.cached, job.status, job.end_time) == (None, False, None, None)
    assert f.jobs.executions[(1, "e1")][1] == "j1"  # a root job becomes its execution's


async def test_a_job_end_records_its_call_and_status(f: Fakes) -> None:
    cache = f.cache()
    await cache.end_job("ns", JobIn("j1", h("task"), "e1", "j0", call_hash=h("call"), cached=True, status="DONE"))
    job = await cache.get_job("ns", "j1")
    assert (job.parent_id, job.call_hash, job.cached, job.status) == ("j0", h("call"), True, "DONE")
    assert job.end_time is not None


async def test_a_job_end_with_a_bad_call_hash_is_refused(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await f.cache().end_job("ns", JobIn("j1", h("task"), "e1", None, call_hash="bad"))
    assert exc.value.metadata == {"field": "job.call_hash"}
    assert f.jobs.jobs == {}


async def test_a_missing_job_is_not_found(f: Fakes) -> None:
    with pytest.raises(NotFound) as exc:
        await f.cache().get_job("ns", "nope")
    assert exc.value.reason == Reason.JOB_NOT_FOUND and exc.value.metadata == {"job_id": "nope"}


def handle(label: str, fullname: str = "pipeline") -> HandleIn:
    return HandleIn(h(label), fullname, "", h(f"value-{label}"))


async def test_handles_advance_and_roll_back_downstream_only(f: Fakes) -> None:
    cache = f.cache()
    await cache.advance_handle("ns", [], [handle("h0")], handle("h1"), [])
    await cache.advance_handle("ns", [handle("h0")], [handle("h1")], handle("h2"), [value("v", b"1")])
    assert (1, h("v")) in f.values.rows
    assert all([await cache.is_valid_handle("ns", h(x)) for x in ("h0", "h1", "h2")])
    assert await cache.rollback_handle("ns", h("h0"), "pipeline") == 2
    assert [await cache.is_valid_handle("ns", h(x)) for x in ("h0", "h1", "h2")] == [True, False, False]
    assert await cache.rollback_handle("ns", h("h0"), "pipeline") == 0
    assert not await cache.is_valid_handle("ns", h("never"))


async def test_a_handle_with_a_bad_hash_is_refused_naming_its_place(f: Fakes) -> None:
    with pytest.raises(InvalidArgument) as exc:
        await f.cache().advance_handle("ns", [], [HandleIn("bad", "p", "", h("v"))], handle("h1"), [])
    assert exc.value.metadata == {"field": "parents.hash"}
    with pytest.raises(InvalidArgument) as exc:
        await f.cache().advance_handle("ns", [], [], HandleIn(h("c"), "", "", h("v")), [])
    assert exc.value.metadata["field"] == "child.fullname"
    assert f.handles.handles == {}
