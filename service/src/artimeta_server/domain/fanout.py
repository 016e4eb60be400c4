"""Many small calls to the object store for one request (a FindMissing of 100,000 digests, a
batch of 10,000 blobs), with a bounded number in the air: per request a fixed number of workers
(not one coroutine per item), and across requests a shared semaphore, so one large request
neither fills the store's thread pool for everyone nor holds 100,000 pending futures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def bounded_map(
    fn: Callable[[T], Awaitable[R]], items: Sequence[T], slots: asyncio.Semaphore, *, width: int
) -> list[R | BaseException]:
    """fn(item) for every item, in order, each result or the exception it raised; at most
    `width` at once for this call and at most the semaphore's value across all calls sharing it."""
    results: list[R | BaseException | None] = [None] * len(items)
    indexes = iter(range(len(items)))

    async def worker() -> None:
        for i in indexes:
            async with slots:
                try:
                    results[i] = await fn(items[i])
                except Exception as exc:  # noqa: BLE001 - handed to the caller, in order
                    results[i] = exc

    await asyncio.gather(*(worker() for _ in range(min(width, len(items)))))
    return results  # type: ignore[return-value] # every slot was filled
