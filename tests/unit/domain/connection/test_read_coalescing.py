"""Concurrent point reads share one batch read; a read never joins a batch already sent."""

from __future__ import annotations

import asyncio

import pytest

from artimeta_server.domain.connection.coalescer import ReadCoalescer


async def _until(cond) -> None:
    for _ in range(100):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("never happened")


class Reads:
    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.batches: list[tuple[int, list[str]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def fetch(self, namespace_id: int, keys: list[str]) -> dict[str, int]:
        self.batches.append((namespace_id, keys))
        found = {k: self.rows[k] for k in keys if k in self.rows}  # what the query sees when sent
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return found


async def test_concurrent_reads_are_one_batch() -> None:
    reads = Reads({"a": 1, "b": 2})
    co: ReadCoalescer[str, int] = ReadCoalescer(reads.fetch)
    got = await asyncio.gather(*(co.read(1, k) for k in ["a", "b", "a", "missing"]))
    assert got == [1, 2, 1, None]
    assert reads.batches == [(1, ["a", "b", "missing"])]


async def test_reads_arriving_during_a_batch_form_the_next_and_see_later_writes() -> None:
    reads = Reads({"a": 1})
    co: ReadCoalescer[str, int] = ReadCoalescer(reads.fetch)
    reads.gate.clear()
    first = asyncio.ensure_future(co.read(1, "a"))
    await _until(lambda: reads.batches)
    assert reads.batches == [(1, ["a"])]
    reads.rows["a"] = 2  # a write that completes after the first batch was sent
    second = asyncio.ensure_future(co.read(1, "a"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(reads.batches) == 1  # it waits for the batch in flight, not joining it
    reads.gate.set()
    assert await first == 1 and await second == 2
    assert len(reads.batches) == 2


async def test_namespaces_are_read_apart_and_batches_are_bounded() -> None:
    reads = Reads({k: i for i, k in enumerate("abcde")})
    co: ReadCoalescer[str, int] = ReadCoalescer(reads.fetch, max_batch=2)
    got = await asyncio.gather(*(co.read(1, k) for k in "abcde"), co.read(2, "a"))
    assert got == [0, 1, 2, 3, 4, 0]
    assert sorted(len(keys) for _, keys in reads.batches) == [1, 1, 2, 2]
    assert {ns for ns, _ in reads.batches} == {1, 2}


async def test_a_failed_batch_fails_every_reader_and_the_next_batch_runs() -> None:
    reads = Reads({"a": 1})
    co: ReadCoalescer[str, int] = ReadCoalescer(reads.fetch)
    reads.fail = RuntimeError("db down")
    results = await asyncio.gather(co.read(1, "a"), co.read(1, "b"), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    reads.fail = None
    assert await co.read(1, "a") == 1


async def test_snapshot_tag_reads_coalesce_through_the_domain() -> None:
    from artimeta_server.domain.connection.models import Snapshot
    from tests.unit.domain.connection.fakes import connections

    conns, repo, _, _ = connections()
    await conns.write_snapshot("ns", Snapshot("g", 10, 1, 1, b"d", "json", ()))
    for tag in ("a", "b"):
        await conns.write_snapshot_tag("ns", "g", tag, 10, overwrite=False, expected=None, actor="")
    repo.tag_batches.clear()
    got = await asyncio.gather(*(conns.read_snapshot_tag("ns", "g", t, strong=True) for t in ("a", "b", "a")))
    assert [t.tag for t, _ in got] == ["a", "b", "a"]
    assert repo.tag_batches == [[("g", "a"), ("g", "b")]]
    with pytest.raises(Exception, match="No known `c` tag"):
        await conns.read_snapshot_tag("ns", "g", "c")
