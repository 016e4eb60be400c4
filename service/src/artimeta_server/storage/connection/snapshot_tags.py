"""One snapshot tag write in Postgres. The row lock (SELECT … FOR UPDATE) orders concurrent
movers; concurrent creators meet in the unique key, where exactly one INSERT succeeds and the
others see its row. What may be written is the domain's rule (domain/connection/snapshot_tags.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from artimeta_server.domain.connection.models import SnapshotTag
from artimeta_server.domain.connection.snapshot_tags import snapshot_not_written
from artimeta_server.domain.fresh import tag_key
from artimeta_server.storage.changes import announce
from artimeta_server.storage.connection.rows import TAG_COLS, snapshot_tag
from artimeta_server.storage.postgres import Database

_CURRENT = (
    "SELECT snapshot_fingerprint FROM arti_snapshot_tags WHERE namespace_id = $1 AND name = $2 AND tag = $3 FOR UPDATE"
)
_CREATE = (
    "INSERT INTO arti_snapshot_tags (namespace_id, name, tag, snapshot_fingerprint, actor)"
    f" VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {TAG_COLS}"
)
_MOVE = (
    "UPDATE arti_snapshot_tags SET snapshot_fingerprint = $4, actor = $5, update_time = now()"
    f" WHERE namespace_id = $1 AND name = $2 AND tag = $3 RETURNING {TAG_COLS}"
)
_RECORD_MOVE = (
    "INSERT INTO arti_snapshot_tag_moves (namespace_id, name, tag, from_snapshot_fingerprint,"
    " to_snapshot_fingerprint, actor) VALUES ($1, $2, $3, $4, $5, $6)"
)


class PostgresSnapshotTagUnit:
    def __init__(self, conn: asyncpg.Connection, namespace_id: int, name: str, tag: str) -> None:
        self._conn = conn
        self._key = (namespace_id, name, tag)

    async def current(self) -> int | None:
        value: int | None = await self._conn.fetchval(_CURRENT, *self._key)
        return value

    async def _write(self, query: str, snapshot_fingerprint: int, actor: str) -> SnapshotTag | None:
        try:
            row = await self._conn.fetchrow(query, *self._key, snapshot_fingerprint, actor)
        except asyncpg.ForeignKeyViolationError:
            raise snapshot_not_written(self._key[1], snapshot_fingerprint) from None
        return None if row is None else snapshot_tag(row)

    async def create(self, snapshot_fingerprint: int, actor: str) -> SnapshotTag | None:
        return await self._write(_CREATE, snapshot_fingerprint, actor)

    async def move(self, snapshot_fingerprint: int, actor: str) -> SnapshotTag:
        moved = await self._write(_MOVE, snapshot_fingerprint, actor)
        assert moved is not None  # the row is locked: it is still there
        return moved

    async def record_move(self, previous: int | None, snapshot_fingerprint: int, actor: str) -> None:
        await announce(self._conn, tag_key(*self._key))
        await self._conn.execute(_RECORD_MOVE, *self._key, previous, snapshot_fingerprint, actor)


@asynccontextmanager
async def snapshot_tag_unit(
    db: Database, namespace_id: int, name: str, tag: str
) -> AsyncIterator[PostgresSnapshotTagUnit]:
    async with db.transaction() as conn:
        yield PostgresSnapshotTagUnit(conn, namespace_id, name, tag)
