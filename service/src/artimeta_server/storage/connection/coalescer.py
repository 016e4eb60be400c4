"""Concurrent reads of snapshot tags, coalesced into one query per namespace."""

from __future__ import annotations

import asyncio

from artimeta_server.domain.connection.models import SnapshotTag
from artimeta_server.storage.connection.rows import TAG_COLS, snapshot_tag
from artimeta_server.storage.postgres import Database

# Tags of one namespace by (name, tag); LATERAL + OFFSET 0 keeps it one primary-key probe per tag.
TAGS = f"""
SELECT t.*
FROM unnest($2::text[], $3::text[]) AS k(name, tag)
CROSS JOIN LATERAL (
    SELECT {TAG_COLS} FROM arti_snapshot_tags
    WHERE namespace_id = $1 AND name = k.name AND tag = k.tag
    OFFSET 0
) t
"""

TagKey = tuple[str, str]


class TagReadCoalescer:
    """Coalesces concurrent tag reads of a namespace into one query.

    A read joins only a batch that has not been sent yet, so it always sees every write that
    completed before it arrived; while one query runs, the reads that arrive meanwhile form the
    next batch. Under load this turns N round trips into one, which is what bounds point reads.
    """

    def __init__(self, db: Database, *, max_batch: int = 1000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: dict[int, dict[TagKey, list[asyncio.Future[SnapshotTag | None]]]] = {}
        self._drainer: asyncio.Task[None] | None = None

    async def read(self, namespace_id: int, name: str, tag: str) -> SnapshotTag | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[SnapshotTag | None] = loop.create_future()
        self._pending.setdefault(namespace_id, {}).setdefault((name, tag), []).append(future)
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

    async def _fetch(self, namespace_id: int, keys: list[TagKey]) -> dict[TagKey, SnapshotTag]:
        async with self._db.connection() as conn:
            if len(keys) == 1:
                rows = await conn.fetch(
                    f"SELECT {TAG_COLS} FROM arti_snapshot_tags WHERE namespace_id = $1 AND name = $2 AND tag = $3",
                    namespace_id,
                    keys[0][0],
                    keys[0][1],
                )
            else:
                rows = await conn.fetch(TAGS, namespace_id, [k[0] for k in keys], [k[1] for k in keys])
        return {(r["name"], r["tag"]): snapshot_tag(r) for r in rows}
