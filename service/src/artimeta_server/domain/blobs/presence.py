"""Whether a blob is there, and making it so: the index answers first, S3 has the last word, and
every object acknowledged was looked at while its index row was claimed against gc."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from artimeta_server.domain.blobs.models import ObjectInfo
from artimeta_server.domain.blobs.ports import BlobIndex, ObjectStore
from artimeta_server.domain.blobs.rules import TOUCH_AFTER_S, WRITE_ATTEMPTS, blob_raced
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.fanout import bounded_map

T = TypeVar("T")
R = TypeVar("R")


class Presence:
    def __init__(self, store: ObjectStore, index: BlobIndex, *, fanout: int) -> None:
        self.store = store
        self.index = index
        self._fanout_width = fanout
        self._fanout = asyncio.Semaphore(fanout)

    async def fan_out_stat(self, keys: list[str]) -> list[ObjectInfo | None]:
        """stat_object of each key, a bounded number in the air across all requests; the first
        failure is raised."""
        infos = await bounded_map(self.store.stat_object, keys, self._fanout, width=self._fanout_width)
        for info in infos:
            if isinstance(info, BaseException):
                raise info
        return infos  # type: ignore[return-value] # failures were raised above

    async def fan_out(self, fn: Callable[[T], Awaitable[R]], items: list[T]) -> list[R | BaseException]:
        """fn(item) for every item, in order, each result or the exception it raised."""
        return await bounded_map(fn, items, self._fanout, width=self._fanout_width)

    async def missing_in(self, namespace_id: int, digests: list[Digest]) -> list[Digest]:
        """The absent digests, in order, without duplicates. The index answers first; a digest it
        does not know is looked up in S3 (blobs other services wrote directly) and adopted."""
        unique = list(dict.fromkeys(digests))
        found = await self.index.present(namespace_id, unique, touch_after_s=TOUCH_AFTER_S)
        unknown = [d for d in unique if d not in found]
        if not unknown:
            return []
        have = await self.adopt(namespace_id, unknown)
        return [d for d in unknown if d not in have]

    async def present(self, namespace_id: int, digest: Digest) -> bool:
        return not await self.missing_in(namespace_id, [digest])

    async def _exist(self, namespace_id: int, digests: list[Digest]) -> list[Digest]:
        infos = await self.fan_out_stat([self.store.cas_key(namespace_id, d) for d in digests])
        return [d for d, info in zip(digests, infos, strict=True) if info is not None and info.size == d.size]

    async def _vouch(self, namespace_id: int, digests: list[Digest]) -> set[Digest]:
        """The digests whose objects exist, looked at while their index rows are claimed. A gc or
        DeleteBlob holds those rows from its decision until its S3 delete is done, so what is seen
        here is after any delete already decided, and the refreshed rows keep every later gc
        away for its grace period: an object vouched for here can be acknowledged."""
        if not digests:
            return set()
        async with self.index.claim(namespace_id, digests) as claim:
            present = set(await self._exist(namespace_id, digests))
            await claim.drop([d for d in digests if d not in present])
        return present

    async def adopt(self, namespace_id: int, digests: list[Digest]) -> set[Digest]:
        """The digests whose objects exist although the index may not say so, vouched for. Asked
        of S3 first, so the common answer (absent) writes nothing to the index."""
        seen = await self._exist(namespace_id, digests)
        return await self._vouch(namespace_id, seen) if seen else set()

    async def put_claimed(self, namespace_id: int, items: dict[Digest, bytes]) -> dict[Digest, BaseException]:
        """PUTs small objects while their index rows are claimed: a delete decided earlier has
        finished before the PUTs, none can start before the claim commits, and the rows become
        visible only with the bytes in place. Returns the failed PUTs (their rows are dropped)."""
        if not items:
            return {}
        digests = list(items)
        async with self.index.claim(namespace_id, digests) as claim:
            outcomes = await self.fan_out(
                lambda d: self.store.put_object(self.store.cas_key(namespace_id, d), items[d]), digests
            )
            failed = {d: o for d, o in zip(digests, outcomes, strict=True) if isinstance(o, BaseException)}
            await claim.drop(list(failed))
        return failed

    async def write_checked(
        self, namespace_id: int, digest: Digest, write: Callable[[], Awaitable[None]] | None
    ) -> None:
        """Indexes an object just written (or, with write None, one that must exist): it is
        vouched for, and written again when a delete decided before the write removed it."""
        for _ in range(WRITE_ATTEMPTS):
            if digest in await self._vouch(namespace_id, [digest]):
                return
            if write is None:
                break
            await write()
        raise blob_raced(digest)

    async def promote(self, namespace_id: int, staged: str, digest: Digest) -> None:
        """Makes verified bytes at a staging key the blob of digest (unless it exists already) and
        removes the staging object."""
        if digest not in await self.adopt(namespace_id, [digest]):
            final = self.store.cas_key(namespace_id, digest)

            async def copy() -> None:
                await self.store.copy_object(staged, final, digest.size)

            await copy()
            await self.write_checked(namespace_id, digest, copy)
        await self.store.delete_objects([staged])
