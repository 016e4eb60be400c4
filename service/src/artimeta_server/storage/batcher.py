"""Coalescing of concurrent point reads into set-based statements.

A read that arrives while no batch is running starts one at once, so a lone caller waits for
nothing but its own statement. Reads that arrive while `max_in_flight` batches are running queue
up and leave together as the next batch when one finishes: under load, N concurrent reads cost
one pool checkout, one round trip and one statement instead of N. One batch in flight by
default: under load the server's CPU, not Postgres, is the limit, and a second statement in
flight only splits the queue into smaller batches.

A batch that fails is run again key by key (unless `shared_failure` says the failure is not any
one key's, e.g. the database is unreachable), so a key the statement rejects fails its own caller
only, never the other callers, possibly of other tenants, who shared its batch."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# Runs one batch: one result per key, in the keys' order.
Run = Callable[[Sequence[K]], Awaitable[Sequence[V]]]


class Batcher(Generic[K, V]):
    def __init__(
        self,
        run: Run[K, V],
        *,
        max_batch: int = 128,
        max_in_flight: int = 1,
        shared_failure: Callable[[Exception], bool] = lambda _: False,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._run = run
        self._shared_failure = shared_failure
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pending: list[tuple[K, asyncio.Future[V]]] = []
        self._in_flight = 0
        # Batches run as tasks of their own: a caller that goes away (its RPC cancelled) must
        # not cancel the statement the other callers of its batch wait for.
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, key: K) -> V:
        if not self._pending and self._in_flight < self._max_in_flight:
            return await self._alone(key)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if self._in_flight < self._max_in_flight:
            self._start()
        return await future

    async def _alone(self, key: K) -> V:
        """A batch of this caller's key only, run in the caller's own task: nobody else waits on
        it, so the caller may be cancelled, and a lone read costs no task or future."""
        self._in_flight += 1
        try:
            results = await self._run([key])
            if len(results) != 1:
                raise RuntimeError(f"batch of 1 key returned {len(results)} results")
            return results[0]
        finally:
            self._in_flight -= 1
            if self._pending and self._in_flight < self._max_in_flight:
                self._start()

    def _start(self) -> None:
        batch = self._pending[: self._max_batch]
        del self._pending[: self._max_batch]
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(self._execute(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        try:
            try:
                results = await self._run([key for key, _ in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"batch of {len(batch)} keys returned {len(results)} results")
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - each waiter gets its own outcome, below
                if len(batch) > 1 and not self._shared_failure(exc):
                    await self._one_by_one(batch)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                return
            except BaseException:
                for _, future in batch:
                    future.cancel()
                raise
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._in_flight -= 1
            if self._pending and self._in_flight < self._max_in_flight:
                self._start()

    async def _one_by_one(self, batch: list[tuple[K, asyncio.Future[V]]]) -> None:
        """Each key of a failed batch alone, each caller getting its own key's outcome."""
        for key, future in batch:
            if future.done():
                continue
            try:
                results = await self._run([key])
                if len(results) != 1:
                    raise RuntimeError(f"batch of 1 key returned {len(results)} results")
            except asyncio.CancelledError:
                for _, f in batch:
                    f.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - handed to the one caller whose key failed
                if not future.done():
                    future.set_exception(exc)
                continue
            if not future.done():
                future.set_result(results[0])
