"""storage/batcher.py: concurrent point reads coalesce into batches; a lone read waits for nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from artimeta_server.storage.batcher import Batcher


async def settle() -> None:
    """Lets every ready task run until all wait on something."""
    for _ in range(10):
        await asyncio.sleep(0)


class Recorder:
    """A batch runner that records its batches and, when gated, waits for the test to open the gate."""

    def __init__(self, gated: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()

    async def __call__(self, keys: Sequence[int]) -> list[int]:
        self.batches.append(list(keys))
        await self.gate.wait()
        if -1 in keys:
            raise ValueError("bad key")
        return [k * 10 for k in keys]


async def test_a_lone_read_runs_at_once_and_alone():
    run = Recorder()
    batcher: Batcher[int, int] = Batcher(run)
    assert await asyncio.wait_for(batcher(3), timeout=1) == 30
    assert await batcher(4) == 40
    assert run.batches == [[3], [4]]


async def test_reads_arriving_while_a_batch_runs_leave_together_as_the_next_batch():
    run = Recorder(gated=True)
    batcher: Batcher[int, int] = Batcher(run, max_in_flight=1)
    first = asyncio.ensure_future(batcher(0))
    await settle()
    rest = [asyncio.ensure_future(batcher(k)) for k in range(1, 11)]
    await settle()
    assert run.batches == [[0]]
    run.gate.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [k * 10 for k in range(1, 11)]
    assert run.batches == [[0], list(range(1, 11))]


async def test_batches_are_capped_and_several_run_at_once():
    run = Recorder(gated=True)
    batcher: Batcher[int, int] = Batcher(run, max_batch=3, max_in_flight=2)
    calls = [asyncio.ensure_future(batcher(k)) for k in range(8)]
    await settle()
    # The first two reads start a batch each; the other six wait for a free slot.
    assert run.batches == [[0], [1]]
    run.gate.set()
    assert await asyncio.gather(*calls) == [k * 10 for k in range(8)]
    assert run.batches == [[0], [1], [2, 3, 4], [5, 6, 7]]


async def test_a_failing_batch_is_run_again_key_by_key_so_only_the_bad_key_fails():
    run = Recorder(gated=True)
    batcher: Batcher[int, int] = Batcher(run, max_in_flight=1)
    first = asyncio.ensure_future(batcher(1))
    await settle()
    good, bad, other = (asyncio.ensure_future(batcher(k)) for k in (2, -1, 3))
    run.gate.set()
    assert await first == 10
    assert await good == 20 and await other == 30
    with pytest.raises(ValueError, match="bad key"):
        await bad
    assert run.batches == [[1], [2, -1, 3], [2], [-1], [3]]
    assert await batcher(5) == 50


async def test_a_failure_of_the_whole_batch_fails_every_key_without_running_each_alone():
    run = Recorder(gated=True)
    batcher: Batcher[int, int] = Batcher(run, max_in_flight=1, shared_failure=lambda exc: True)
    first = asyncio.ensure_future(batcher(1))
    await settle()
    calls = [asyncio.ensure_future(batcher(k)) for k in (2, -1)]
    run.gate.set()
    assert await first == 10
    for call in calls:
        with pytest.raises(ValueError, match="bad key"):
            await call
    assert run.batches == [[1], [2, -1]]


async def test_a_cancelled_reader_cancels_neither_its_batch_nor_the_next():
    run = Recorder(gated=True)
    batcher: Batcher[int, int] = Batcher(run, max_in_flight=1)
    lone = asyncio.ensure_future(batcher(1))  # runs alone, in its own task
    await settle()
    leaving, staying = asyncio.ensure_future(batcher(2)), asyncio.ensure_future(batcher(3))
    await settle()
    lone.cancel()  # the queued reads still leave as the next batch
    await settle()
    assert run.batches == [[1], [2, 3]]
    leaving.cancel()  # and that batch still answers the reader that stayed
    await settle()
    run.gate.set()
    assert await staying == 30
    assert lone.cancelled() and leaving.cancelled()
    assert await batcher(4) == 40


async def test_a_runner_returning_the_wrong_number_of_results_fails_the_batch():
    async def short(keys: Sequence[int]) -> list[int]:
        return []

    batcher: Batcher[int, int] = Batcher(short)
    with pytest.raises(RuntimeError, match="returned 0 results"):
        await batcher(1)


def test_limits_must_be_positive():
    async def run(keys: Sequence[int]) -> list[int]:
        return list(keys)

    with pytest.raises(ValueError):
        Batcher(run, max_batch=0)
    with pytest.raises(ValueError):
        Batcher(run, max_in_flight=0)
