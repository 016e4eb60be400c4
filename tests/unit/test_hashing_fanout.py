"""domain/hashing: large inputs are hashed in the hashing pool, small ones in line, with the same
result as hashlib; domain/fanout: results in order, exceptions returned, concurrency bounded."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading

import pytest

from artimeta_server.domain import hashing
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.fanout import bounded_map


class ThreadRecordingHasher:
    def __init__(self) -> None:
        self.inner = hashlib.sha256()
        self.threads: list[str] = []

    def update(self, data: bytes) -> None:
        self.threads.append(threading.current_thread().name)
        self.inner.update(data)


async def test_large_inputs_are_hashed_off_the_loop_thread_small_ones_in_line() -> None:
    big, small = os.urandom(hashing.OFFLOAD_BYTES), os.urandom(100)
    h = ThreadRecordingHasher()
    await hashing.update(h, small)
    await hashing.update(h, big)
    assert h.threads[0] == threading.current_thread().name
    assert h.threads[1].startswith("sha256")
    assert h.inner.hexdigest() == hashlib.sha256(small + big).hexdigest()
    assert await hashing.digest_of(big) == Digest.of(big)
    assert await hashing.sha256_hex(small) == hashlib.sha256(small).hexdigest()


async def test_bounded_map_keeps_order_returns_exceptions_and_bounds_concurrency() -> None:
    slots = asyncio.Semaphore(3)
    running = peak = 0

    async def work(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
        if i == 5:
            raise ValueError("five")
        return i * 2

    # Two calls share the semaphore: together never more than 3 in the air.
    first, second = await asyncio.gather(
        bounded_map(work, list(range(20)), slots, width=3), bounded_map(work, list(range(10)), slots, width=3)
    )
    assert peak <= 3
    assert [r for i, r in enumerate(first) if i != 5] == [i * 2 for i in range(20) if i != 5]
    assert isinstance(first[5], ValueError) and isinstance(second[5], ValueError)
    assert await bounded_map(work, [], slots, width=3) == []


def test_configure_refuses_no_threads() -> None:
    with pytest.raises(ValueError):
        hashing.configure(0)
