"""Partitions in Postgres: set-based writes and index-driven reads.

A partition write is one INSERT … SELECT … ON CONFLICT DO NOTHING per table, whatever its size:
from unnested arrays when it is small, from a transaction's staging table filled by COPY when it
is large (COPY moves rows several times faster than the arrays' bind and unnest). A large write
to a target with no partition yet is COPY into the table itself, with no staging and no merge."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from itertools import repeat
from typing import Any, cast

import asyncpg

from artimeta_server.domain.connection.models import BodyRow, InputFilter, StoredPartitions
from artimeta_server.domain.errors import Aborted
from artimeta_server.domain.reasons import Reason
from artimeta_server.storage.connection.partition_copy import recorded, streamed
from artimeta_server.storage.connection.rows import namespace_deleted
from artimeta_server.storage.namespaces.holds import HOLD_NAMESPACE, NAMESPACE_EXISTS
from artimeta_server.storage.postgres import Database, is_unique_violation

# Rows are sorted by the unique index's order before they are inserted, so the index is filled
# page by page instead of at random places. The count is of the rows RETURNING gives, not the
# command status: on Citus an INSERT ... SELECT reports the rows it was given, inserted or not.
_INSERT_STORAGE = """
INSERT INTO arti_storage_partitions
    (namespace_id, storage_fingerprint, input_fingerprint, keys, ident, body, body_hash, body_size)
SELECT $1, $2, u.fp, u.keys, u.ident, u.body, u.body_hash, u.body_size
FROM unnest($3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bigint[])
    AS u(fp, keys, ident, body, body_hash, body_size)
ORDER BY u.fp, u.keys, u.ident
ON CONFLICT DO NOTHING RETURNING 1
"""

# Large writes: every chunk is COPYed into this table (created per transaction, gone at its end,
# whether it commits or not), then one statement per target table merges it.
_STAGE = "artimeta_staged_partitions"
_STAGE_COLUMNS = ("input_fingerprint", "keys", "ident", "body", "body_hash", "body_size")
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE {_STAGE} (
    input_fingerprint BIGINT,
    keys              BYTEA NOT NULL,
    ident             BYTEA NOT NULL,
    body              BYTEA,
    body_hash         TEXT,
    body_size         BIGINT NOT NULL
) ON COMMIT DROP
"""
# The merges sort the staged rows like the unique index; sorting 100k bodies in memory needs more
# than the default work_mem. SET LOCAL ends with the transaction.
_MERGE_WORK_MEM = "SET LOCAL work_mem = '64MB'"
_MERGE_STORAGE = f"""
INSERT INTO arti_storage_partitions
    (namespace_id, storage_fingerprint, input_fingerprint, keys, ident, body, body_hash, body_size)
SELECT $1, $2, input_fingerprint, keys, ident, body, body_hash, body_size FROM {_STAGE}
ORDER BY input_fingerprint, keys, ident
ON CONFLICT DO NOTHING RETURNING 1
"""
_MERGE_SNAPSHOT = f"""
INSERT INTO arti_snapshot_partitions
    (namespace_id, name, snapshot_fingerprint, artifact_key, ident, body, body_hash, body_size)
SELECT $1, $2, $3, $4, ident, body, body_hash, body_size FROM {_STAGE}
ORDER BY ident
ON CONFLICT DO NOTHING RETURNING 1
"""
# A target that holds no partition yet (a storage's first write, the usual case) takes the COPY
# itself: nothing can conflict but the request's own duplicates or a concurrent writer's rows, and
# either makes the COPY fail with a unique violation, whereupon its savepoint is rolled back and
# the rows go through the staging table and the merge after all.
_ANY_STORAGE = "SELECT 1 FROM arti_storage_partitions WHERE namespace_id = $1 AND storage_fingerprint = $2 LIMIT 1"
_ANY_SNAPSHOT = """
SELECT 1 FROM arti_snapshot_partitions
WHERE namespace_id = $1 AND name = $2 AND snapshot_fingerprint = $3 AND artifact_key = $4 LIMIT 1
"""
_STORAGE_COLUMNS = ("namespace_id", "storage_fingerprint", *_STAGE_COLUMNS)
_SNAPSHOT_COLUMNS = (
    "namespace_id",
    "name",
    "snapshot_fingerprint",
    "artifact_key",
    "ident",
    "body",
    "body_hash",
    "body_size",
)

# Writes of fewer partitions go through unnest: a temporary table's creation costs more than
# binding small arrays.
STAGED_FROM = 2_000


_INSERT_SNAPSHOT = """
INSERT INTO arti_snapshot_partitions
    (namespace_id, name, snapshot_fingerprint, artifact_key, ident, body, body_hash, body_size)
SELECT $1, $2, $3, $4, u.ident, u.body, u.body_hash, u.body_size
FROM unnest($5::bytea[], $6::bytea[], $7::text[], $8::bigint[]) AS u(ident, body, body_hash, body_size)
ORDER BY u.ident
ON CONFLICT DO NOTHING RETURNING 1
"""

# Every wanted (keys, fingerprint) pair is one probe of the unique index, so the cost follows the
# filter's size, not the table's. OFFSET 0 keeps each LATERAL subquery from being flattened into a
# join: with the statistics a bulk write leaves stale, the planner would otherwise hash the whole
# storage. The probes go in index order, so each index page is read about once per query.
FILTERED_READ = """
SELECT p.body, p.body_hash, p.body_size
FROM (SELECT * FROM unnest($3::bytea[], $4::bigint[]) AS u(keys, fp) ORDER BY fp, keys) AS f
CROSS JOIN LATERAL (
    SELECT body, body_hash, body_size FROM arti_storage_partitions
    WHERE namespace_id = $1 AND storage_fingerprint = $2 AND input_fingerprint = f.fp AND keys = f.keys
    OFFSET 0
) p
UNION ALL
SELECT p.body, p.body_hash, p.body_size
FROM (SELECT * FROM unnest($5::bytea[]) AS u(keys) ORDER BY keys) AS f
CROSS JOIN LATERAL (
    SELECT body, body_hash, body_size FROM arti_storage_partitions
    WHERE namespace_id = $1 AND storage_fingerprint = $2 AND input_fingerprint IS NULL AND keys = f.keys
    OFFSET 0
) p
"""

_ALL_STORAGE = """
SELECT body, body_hash, body_size FROM arti_storage_partitions
WHERE namespace_id = $1 AND storage_fingerprint = $2
"""

# One page of a snapshot artifact's partitions, in the primary key's order: a range scan of that
# index from the last ident seen, whatever the page's depth.
_SNAPSHOT_PAGE_FIRST = """
SELECT ident, body, body_hash, body_size FROM arti_snapshot_partitions
WHERE namespace_id = $1 AND name = $2 AND snapshot_fingerprint = $3 AND artifact_key = $4
ORDER BY ident LIMIT $5
"""
_SNAPSHOT_PAGE_AFTER = """
SELECT ident, body, body_hash, body_size FROM arti_snapshot_partitions
WHERE namespace_id = $1 AND name = $2 AND snapshot_fingerprint = $3 AND artifact_key = $4 AND ident > $6
ORDER BY ident LIMIT $5
"""

_SNAPSHOT_PARTS = """
SELECT body, body_hash, body_size FROM arti_snapshot_partitions
WHERE namespace_id = $1 AND name = $2 AND snapshot_fingerprint = $3 AND artifact_key = $4
"""


def _storage_args(parts: StoredPartitions) -> tuple[Any, ...]:
    return (
        parts.input_fingerprints,
        parts.keys,
        parts.idents,
        parts.inline_bodies,
        parts.body_hashes,
        parts.body_sizes,
    )


def _snapshot_args(parts: StoredPartitions) -> tuple[Any, ...]:
    return (parts.idents, parts.inline_bodies, parts.body_hashes, parts.body_sizes)


_WRITE_ATTEMPTS = 4


async def _replay(
    done: list[StoredPartitions], rest: AsyncIterator[StoredPartitions]
) -> AsyncIterator[StoredPartitions]:
    for parts in done:
        yield parts
    async for parts in rest:
        yield parts


async def _inserted(conn: asyncpg.Connection, query: str, *args: Any) -> int:
    return len(await conn.fetch(query, *args))


def _staged(parts: StoredPartitions) -> Iterable[tuple[Any, ...]]:
    return zip(*_storage_args(parts), strict=True)


@dataclass(frozen=True, slots=True)
class _Table:
    """One partition table's three ways in: `insert` from arrays (`args` of a chunk), `merge` from
    the staging table, COPY into `name` (`columns`) when `any` of the target finds no row; all
    take the target's fixed values first."""

    insert: str
    merge: str
    args: Callable[[StoredPartitions], tuple[Any, ...]]
    name: str
    columns: tuple[str, ...]
    any: str


_STORAGE = _Table(
    _INSERT_STORAGE, _MERGE_STORAGE, _storage_args, "arti_storage_partitions", _STORAGE_COLUMNS, _ANY_STORAGE
)
_SNAPSHOT = _Table(
    _INSERT_SNAPSHOT, _MERGE_SNAPSHOT, _snapshot_args, "arti_snapshot_partitions", _SNAPSHOT_COLUMNS, _ANY_SNAPSHOT
)
# A table and the fixed values of its rows (namespace, storage or snapshot artifact).
_Target = tuple[_Table, tuple[Any, ...]]


async def _copy_direct(
    conn: asyncpg.Connection, chunks: AsyncIterator[StoredPartitions], targets: list[_Target]
) -> list[int]:
    count = 0

    async def copy(parts: StoredPartitions) -> None:
        nonlocal count
        for t, fixed in targets:
            records = zip(*[repeat(v) for v in fixed], *t.args(parts), strict=False)  # repeat() never ends
            await conn.copy_records_to_table(t.name, records=records, columns=t.columns)
        count += len(parts.idents)

    await streamed(chunks, copy)
    return [count] * len(targets)


class PostgresPartitions:
    """The partition half of ConnectionRepository: set unions and streamed reads."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_storage_partitions(
        self, namespace_id: int, storage_fingerprint: int, chunks: AsyncIterator[StoredPartitions]
    ) -> int:
        counts = await self._pipelined(namespace_id, chunks, [(_STORAGE, (namespace_id, storage_fingerprint))])
        return counts[0]

    async def add_snapshot_partitions(
        self,
        namespace_id: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        chunks: AsyncIterator[StoredPartitions],
    ) -> int:
        fixed = (namespace_id, name, snapshot_fingerprint, artifact_key)
        return (await self._pipelined(namespace_id, chunks, [(_SNAPSHOT, fixed)]))[0]

    async def add_artifact_and_snapshot_partitions(
        self,
        namespace_id: int,
        storage_fingerprint: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        chunks: AsyncIterator[StoredPartitions],
    ) -> tuple[int, int]:
        artifact, snapshot = await self._pipelined(
            namespace_id,
            chunks,
            [
                (_STORAGE, (namespace_id, storage_fingerprint)),
                (_SNAPSHOT, (namespace_id, name, snapshot_fingerprint, artifact_key)),
            ],
        )
        return artifact, snapshot

    async def _pipelined(
        self, namespace_id: int, chunks: AsyncIterator[StoredPartitions], targets: list[_Target]
    ) -> list[int]:
        """Applies every chunk in one transaction. Concurrent writers of overlapping sets can
        lock the same rows in opposite orders and deadlock; a union is idempotent, so the loser
        simply applies its chunks again."""
        seen: list[StoredPartitions] = []

        async def recorded() -> AsyncIterator[StoredPartitions]:
            async for parts in chunks:
                seen.append(parts)
                yield parts

        rest = recorded()
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                return await self._apply(namespace_id, _replay(list(seen), rest), targets)
            except Aborted as exc:
                if exc.reason != Reason.TRANSACTION_CONFLICT or attempt == _WRITE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise AssertionError("unreachable")

    async def _apply(
        self, namespace_id: int, chunks: AsyncIterator[StoredPartitions], targets: list[_Target]
    ) -> list[int]:
        async with self._db.transaction() as conn:
            # No foreign key to namespaces on these tables: see storage/namespaces/holds.py. The check
            # is a statement of its own, so that its snapshot is taken once the lock is held.
            await conn.execute(HOLD_NAMESPACE, namespace_id)
            if not await conn.fetchval(NAMESPACE_EXISTS, namespace_id):
                raise namespace_deleted()
            first = await anext(chunks, None)
            if first is None:
                return [0] * len(targets)
            second = await anext(chunks, None) if len(first.idents) < STAGED_FROM else None
            if second is None and len(first.idents) < STAGED_FROM:
                return [await _inserted(conn, t.insert, *fixed, *t.args(first)) for t, fixed in targets]
            chunks = _replay([first] if second is None else [first, second], chunks)
            if all([await conn.fetchval(t.any, *fixed) is None for t, fixed in targets]):
                taken: list[StoredPartitions] = []
                try:
                    async with conn.transaction():
                        return await _copy_direct(conn, recorded(chunks, taken), targets)
                except (asyncpg.UniqueViolationError, asyncpg.InternalServerError) as exc:
                    if not is_unique_violation(exc):
                        raise
                    chunks = _replay(taken, chunks)
            await conn.execute(_CREATE_STAGE)

            async def stage(parts: StoredPartitions) -> None:
                await conn.copy_records_to_table(_STAGE, records=_staged(parts), columns=_STAGE_COLUMNS)

            await streamed(chunks, stage)
            await conn.execute(_MERGE_WORK_MEM)
            return [await _inserted(conn, t.merge, *fixed) for t, fixed in targets]

    async def storage_partitions(
        self, namespace_id: int, storage_fingerprint: int, wanted: InputFilter | None, chunk: int
    ) -> AsyncIterator[list[BodyRow]]:
        args: tuple[Any, ...]
        if wanted is None:
            query, args = _ALL_STORAGE, (namespace_id, storage_fingerprint)
        else:
            set_keys = [k for k, fp in zip(wanted.keys, wanted.fingerprints, strict=True) if fp is not None]
            set_fps = [fp for fp in wanted.fingerprints if fp is not None]
            empty_keys = [k for k, fp in zip(wanted.keys, wanted.fingerprints, strict=True) if fp is None]
            query, args = FILTERED_READ, (namespace_id, storage_fingerprint, set_keys, set_fps, empty_keys)
        async for rows in self._chunks(query, args, chunk):
            yield rows

    async def snapshot_partitions(
        self, namespace_id: int, name: str, snapshot_fingerprint: int, artifact_key: str, chunk: int
    ) -> AsyncIterator[list[BodyRow]]:
        async for rows in self._chunks(
            _SNAPSHOT_PARTS, (namespace_id, name, snapshot_fingerprint, artifact_key), chunk
        ):
            yield rows

    async def snapshot_partitions_page(
        self,
        namespace_id: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        after_ident: bytes | None,
        limit: int,
    ) -> list[tuple[bytes, BodyRow]]:
        args: tuple[Any, ...] = (namespace_id, name, snapshot_fingerprint, artifact_key, limit)
        async with self._db.connection() as conn:
            if after_ident is None:
                rows = await conn.fetch(_SNAPSHOT_PAGE_FIRST, *args)
            else:
                rows = await conn.fetch(_SNAPSHOT_PAGE_AFTER, *args, after_ident)
        return [(r[0], (r[1], r[2], r[3])) for r in rows]

    async def _chunks(self, query: str, args: tuple[Any, ...], chunk: int) -> AsyncIterator[list[BodyRow]]:
        # One snapshot of the data for the whole stream (a REPEATABLE READ cursor), read a chunk at
        # a time so memory stays bounded whatever the result's size.
        async with self._db.connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(query, *args)
            while True:
                rows = await cursor.fetch(chunk)
                if not rows:
                    return
                # A Record unpacks and indexes like the BodyRow tuple it stands for.
                yield cast(list[BodyRow], rows)
                if len(rows) < chunk:
                    return
