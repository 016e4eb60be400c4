"""redun's sync records in Postgres (the repository; the statements are in sync_reads.py and
sync_writes.py)."""

from __future__ import annotations

from collections.abc import Sequence

from artimeta_server.domain.cache.sync_models import RecordBatch, SyncRecord
from artimeta_server.domain.fresh import cache_checks_key
from artimeta_server.storage.cache import sync_reads, sync_writes
from artimeta_server.storage.changes import announce
from artimeta_server.storage.postgres import Database


class PostgresRecordSync:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get_records(self, ns: int, ids: Sequence[str]) -> list[SyncRecord]:
        async with self._db.connection() as conn:
            return await sync_reads.get_records(conn, ns, ids)

    async def put_records(self, ns: int, batch: RecordBatch) -> int:
        async with self._db.transaction() as conn:
            n = await sync_writes.put_records(conn, ns, batch)
            if n:
                # Jobs and call nodes are checks' candidates (domain/cache/check_memo.py).
                await announce(conn, cache_checks_key(ns))
            return n

    async def known_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        async with self._db.connection() as conn:
            return await sync_reads.known_record_ids(conn, ns, ids)

    async def child_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        async with self._db.connection() as conn:
            return await sync_reads.child_record_ids(conn, ns, ids)
