"""Concurrent point reads of a namespace, coalesced into one batch read.

A read joins only a batch that has not been sent yet, so it always sees every write that
completed before it arrived; while one batch is read, the reads that arrive meanwhile form the
next. Under load this turns N round trips into one, which is what bounds point reads."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Reads of one namespace by key: what was found (a key absent from the result: not found).
BatchRead = Callable[[int, list[K]], Awaitable[dict[K, V]]]


class ReadCoalescer(Generic[K, V]):
    def __init__(self, fetch: BatchRead[K, V], *, max_batch: int = 1000) -> None:
        self._fetch = fetch
        self._max_batch = max_batch
        self._pending: dict[int, dict[K, list[asyncio.Future[V | None]]]] = {}
        self._drainer: asyncio.Task[None] | None = None

    async def read(self, namespace_id: int, key: K) -> V | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[V | None] = loop.create_future()
        self._pending.setdefault(namespace_id, {}).setdefault(key, []).append(future)
        if self._drainer is None or self._drainer.done():
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        # Returns only once nothing is pending, with no await in between, so a reader that finds
        # this task done knows it must start another.
        while self._pending:
            namespace_id = next(iter(self._pending))
            waiting = self._pending.pop(namespace_id)
            if len(waiting) > self._max_batch:
                items = list(waiting.items())
                waiting = dict(items[: self._max_batch])
                self._pending[namespace_id] = dict(items[self._max_batch :])
            try:
                found = await self._fetch(namespace_id, list(waiting))
            except BaseException as exc:  # handed to every waiting reader
                for futures in waiting.values():
                    for f in futures:
                        if not f.done():
                            f.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for key, futures in waiting.items():
                for f in futures:
                    if not f.done():
                        f.set_result(found.get(key))
