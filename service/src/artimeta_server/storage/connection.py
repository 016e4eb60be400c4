"""arti's Connection in Postgres: set-based writes and index-driven reads.

A partition write is one INSERT … SELECT … ON CONFLICT DO NOTHING per table, whatever its size:
from unnested arrays when it is small, from a transaction's staging table filled by COPY when it
is large (COPY moves rows several times faster than the arrays' bind and unnest)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from artimeta_server.domain.connection_models import (
    InputFilter,
    StoredPartitions,
    StoredRecord,
    TagMove,
    TagRecord,
    TagWrite,
)
from artimeta_server.domain.connection_ports import BodyRow
from artimeta_server.domain.documents import Documents
from artimeta_server.domain.errors import Aborted, AlreadyExists, NotFound
from artimeta_server.domain.fresh import tag_key
from artimeta_server.domain.lineage import EdgeKind, GraphLineage, LineageArtifact, LineageEdge, LineageProducer
from artimeta_server.domain.reasons import Reason
from artimeta_server.storage.changes import announce
from artimeta_server.storage.namespaces.holds import HOLD_NAMESPACE, NAMESPACE_EXISTS
from artimeta_server.storage.postgres import Database
from artimeta_server.storage.sql import given

_GRAPH_COLS = "name, fingerprint, 0::bigint AS snapshot_id, 0::bigint AS graph_fingerprint, document, document_hash, document_size, document_format, code_refs, create_time"
_SNAPSHOT_COLS = "name, fingerprint, snapshot_id, graph_fingerprint, document, document_hash, document_size, document_format, code_refs, create_time"
_LIST_GRAPH_COLS = "name, fingerprint, 0::bigint AS snapshot_id, 0::bigint AS graph_fingerprint, NULL::bytea AS document, NULL::text AS document_hash, document_size, document_format, code_refs, create_time"
_LIST_SNAPSHOT_COLS = "name, fingerprint, snapshot_id, graph_fingerprint, NULL::bytea AS document, NULL::text AS document_hash, document_size, document_format, code_refs, create_time, seq"
_TAG_COLS = "name, tag, snapshot_fingerprint, actor, update_time"

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


# Tags of one namespace by (name, tag); LATERAL + OFFSET 0 keeps it one primary-key probe per tag.
_TAGS = f"""
SELECT t.*
FROM unnest($2::text[], $3::text[]) AS k(name, tag)
CROSS JOIN LATERAL (
    SELECT {_TAG_COLS} FROM arti_snapshot_tags
    WHERE namespace_id = $1 AND name = k.name AND tag = k.tag
    OFFSET 0
) t
"""

TagKey = tuple[str, str]


class TagReads:
    """Coalesces concurrent tag reads of a namespace into one query.

    A read joins only a batch that has not been sent yet, so it always sees every write that
    completed before it arrived; while one query runs, the reads that arrive meanwhile form the
    next batch. Under load this turns N round trips into one, which is what bounds point reads.
    """

    def __init__(self, db: Database, *, max_batch: int = 1000) -> None:
        self._db = db
        self._max_batch = max_batch
        self._pending: dict[int, dict[TagKey, list[asyncio.Future[TagRecord | None]]]] = {}
        self._drainer: asyncio.Task[None] | None = None

    async def read(self, namespace_id: int, name: str, tag: str) -> TagRecord | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[TagRecord | None] = loop.create_future()
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

    async def _fetch(self, namespace_id: int, keys: list[TagKey]) -> dict[TagKey, TagRecord]:
        async with self._db.connection() as conn:
            if len(keys) == 1:
                rows = await conn.fetch(
                    f"SELECT {_TAG_COLS} FROM arti_snapshot_tags WHERE namespace_id = $1 AND name = $2 AND tag = $3",
                    namespace_id,
                    keys[0][0],
                    keys[0][1],
                )
            else:
                rows = await conn.fetch(_TAGS, namespace_id, [k[0] for k in keys], [k[1] for k in keys])
        return {(r["name"], r["tag"]): _tag(r) for r in rows}


def _record(r: asyncpg.Record) -> StoredRecord:
    return StoredRecord(
        name=r["name"],
        fingerprint=r["fingerprint"],
        snapshot_id=r["snapshot_id"],
        graph_fingerprint=r["graph_fingerprint"],
        document=Documents.from_row(r["document"], r["document_hash"], r["document_size"]),
        document_size=r["document_size"],
        document_format=r["document_format"],
        code_refs=tuple(r["code_refs"]),
        create_time=r["create_time"],
    )


def _tag(r: asyncpg.Record) -> TagRecord:
    return TagRecord(r["name"], r["tag"], r["snapshot_fingerprint"], r["actor"], r["update_time"])


def lineage_json(lineage: GraphLineage) -> str:
    """Positional arrays rather than objects: a lineage of 10k nodes stays a few hundred KB."""
    return json.dumps(
        {
            # A trailing true marks a class stored by value (lineages recorded before it have none).
            "artifacts": [
                [a.key, a.artifact_class, a.type, a.format, a.storage, *([True] if a.stored_by_value else [])]
                for a in lineage.artifacts
            ],
            "producers": [
                [p.key, p.name, p.qualname, p.version, *([True] if p.stored_by_value else [])]
                for p in lineage.producers
            ],
            "edges": [
                [e.kind.value, e.artifact_key, e.producer_key, e.input_name, e.output_position] for e in lineage.edges
            ],
        },
        separators=(",", ":"),
    )


def lineage_from_json(text: str) -> GraphLineage:
    doc = json.loads(text)
    return GraphLineage(
        tuple(LineageArtifact(*a) for a in doc["artifacts"]),
        tuple(LineageProducer(*p) for p in doc["producers"]),
        tuple(LineageEdge(EdgeKind(e[0]), e[1], e[2], e[3], e[4]) for e in doc["edges"]),
    )


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


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


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
    """One partition table's two ways in: `insert` from arrays (`args` of a chunk), `merge` from
    the staging table; both take the target's fixed values first."""

    insert: str
    merge: str
    args: Callable[[StoredPartitions], tuple[Any, ...]]


_STORAGE = _Table(_INSERT_STORAGE, _MERGE_STORAGE, _storage_args)
_SNAPSHOT = _Table(_INSERT_SNAPSHOT, _MERGE_SNAPSHOT, _snapshot_args)
# A table and the fixed values of its rows (namespace, storage or snapshot artifact).
_Target = tuple[_Table, tuple[Any, ...]]


class PostgresConnection:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._tags = TagReads(db)

    # Graphs and snapshots: immutable rows keyed by content.

    async def insert_graph(self, namespace_id: int, rec: StoredRecord, lineage: GraphLineage | None = None) -> bool:
        doc = rec.document
        # Graph and lineage commit together; a graph alone needs no transaction of its own.
        scope = self._db.connection() if lineage is None else self._db.transaction()
        async with scope as conn, _namespace_gone():
            status = await conn.execute(
                "INSERT INTO arti_graphs (namespace_id, name, fingerprint, document, document_hash, document_size,"
                " document_format, code_refs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                namespace_id,
                rec.name,
                rec.fingerprint,
                doc.inline,
                None if doc.digest is None else doc.digest.hash,
                rec.document_size,
                rec.document_format,
                list(rec.code_refs),
            )
            if lineage is not None:
                # A graph written earlier without lineage gets this one; a recorded one stays.
                await conn.execute(
                    "INSERT INTO arti_graph_lineage (namespace_id, name, fingerprint, lineage)"
                    " VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT DO NOTHING",
                    namespace_id,
                    rec.name,
                    rec.fingerprint,
                    lineage_json(lineage),
                )
        return _count(status) == 1

    async def get_graph_lineage(
        self, namespace_id: int, name: str, fingerprint: int
    ) -> tuple[bool, GraphLineage | None]:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT l.lineage::text FROM arti_graphs g LEFT JOIN arti_graph_lineage l"
                " USING (namespace_id, name, fingerprint)"
                " WHERE g.namespace_id = $1 AND g.name = $2 AND g.fingerprint = $3",
                namespace_id,
                name,
                fingerprint,
            )
        if row is None:
            return False, None
        return True, None if row[0] is None else lineage_from_json(row[0])

    async def get_graph(self, namespace_id: int, name: str, fingerprint: int) -> StoredRecord | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_GRAPH_COLS} FROM arti_graphs WHERE namespace_id = $1 AND name = $2 AND fingerprint = $3",
                namespace_id,
                name,
                fingerprint,
            )
        return None if row is None else _record(row)

    async def insert_snapshot(self, namespace_id: int, rec: StoredRecord) -> bool:
        doc = rec.document
        async with self._db.connection() as conn, _namespace_gone():
            status = await conn.execute(
                "INSERT INTO arti_snapshots (namespace_id, name, fingerprint, snapshot_id, graph_fingerprint,"
                " document, document_hash, document_size, document_format, code_refs)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                namespace_id,
                rec.name,
                rec.fingerprint,
                rec.snapshot_id,
                rec.graph_fingerprint,
                doc.inline,
                None if doc.digest is None else doc.digest.hash,
                rec.document_size,
                rec.document_format,
                list(rec.code_refs),
            )
        return _count(status) == 1

    async def get_snapshot(self, namespace_id: int, name: str, fingerprint: int) -> StoredRecord | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_SNAPSHOT_COLS} FROM arti_snapshots WHERE namespace_id = $1 AND name = $2 AND fingerprint = $3",
                namespace_id,
                name,
                fingerprint,
            )
        return None if row is None else _record(row)

    # Tags: mutable pointers; every move is announced to the replicas' caches.

    async def get_tag(self, namespace_id: int, name: str, tag: str) -> TagRecord | None:
        return await self._tags.read(namespace_id, name, tag)

    async def write_tag(
        self,
        namespace_id: int,
        name: str,
        tag: str,
        snapshot_fingerprint: int,
        *,
        overwrite: bool,
        expected: int | None,
        actor: str,
    ) -> TagWrite:
        meta = {"name": name, "tag": tag}
        async with self._db.transaction() as conn:
            # The row lock orders concurrent movers; concurrent creators meet in the unique key,
            # where exactly one INSERT succeeds and the others see its row.
            while True:
                current = await conn.fetchval(
                    "SELECT snapshot_fingerprint FROM arti_snapshot_tags"
                    " WHERE namespace_id = $1 AND name = $2 AND tag = $3 FOR UPDATE",
                    namespace_id,
                    name,
                    tag,
                )
                if current is None:
                    if expected is not None:
                        raise Aborted(
                            f"tag {tag!r} of {name!r} does not exist; expected it at {expected}",
                            reason=Reason.TAG_MOVED,
                            metadata={**meta, "expected_snapshot_fingerprint": str(expected)},
                        )
                    try:
                        row = await conn.fetchrow(
                            "INSERT INTO arti_snapshot_tags (namespace_id, name, tag, snapshot_fingerprint, actor)"
                            f" VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {_TAG_COLS}",
                            namespace_id,
                            name,
                            tag,
                            snapshot_fingerprint,
                            actor,
                        )
                    except asyncpg.ForeignKeyViolationError:
                        raise _snapshot_missing(name, snapshot_fingerprint) from None
                    if row is None:
                        if not overwrite:
                            current = await conn.fetchval(
                                "SELECT snapshot_fingerprint FROM arti_snapshot_tags"
                                " WHERE namespace_id = $1 AND name = $2 AND tag = $3",
                                namespace_id,
                                name,
                                tag,
                            )
                            raise _tag_exists(name, tag, current)
                        continue  # created meanwhile: lock it and move it
                    previous = None
                    break
                if expected is None and not overwrite:
                    raise _tag_exists(name, tag, current)
                if expected is not None and current != expected:
                    raise Aborted(
                        f"tag {tag!r} of {name!r} points at {current}, not at the expected {expected}",
                        reason=Reason.TAG_MOVED,
                        metadata={
                            **meta,
                            "expected_snapshot_fingerprint": str(expected),
                            "snapshot_fingerprint": str(current),
                        },
                    )
                try:
                    row = await conn.fetchrow(
                        "UPDATE arti_snapshot_tags SET snapshot_fingerprint = $4, actor = $5, update_time = now()"
                        f" WHERE namespace_id = $1 AND name = $2 AND tag = $3 RETURNING {_TAG_COLS}",
                        namespace_id,
                        name,
                        tag,
                        snapshot_fingerprint,
                        actor,
                    )
                except asyncpg.ForeignKeyViolationError:
                    raise _snapshot_missing(name, snapshot_fingerprint) from None
                previous = current
                break
            assert row is not None
            await announce(conn, tag_key(namespace_id, name, tag))
            await conn.execute(
                "INSERT INTO arti_snapshot_tag_moves (namespace_id, name, tag, from_snapshot_fingerprint,"
                " to_snapshot_fingerprint, actor) VALUES ($1, $2, $3, $4, $5, $6)",
                namespace_id,
                name,
                tag,
                previous,
                snapshot_fingerprint,
                actor,
            )
        return TagWrite(_tag(row), previous)

    # Partitions: set unions.

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
                raise _namespace_deleted()
            first = await anext(chunks, None)
            if first is None:
                return [0] * len(targets)
            second = await anext(chunks, None) if len(first.idents) < STAGED_FROM else None
            if second is None and len(first.idents) < STAGED_FROM:
                return [await _inserted(conn, t.insert, *fixed, *t.args(first)) for t, fixed in targets]
            await conn.execute(_CREATE_STAGE)
            copying: asyncio.Task[str] | None = None
            try:
                # The next chunk is canonicalized (in a worker thread) while this one is copied.
                async for parts in _replay([first] if second is None else [first, second], chunks):
                    if copying is not None:
                        await copying
                    copying = asyncio.ensure_future(
                        conn.copy_records_to_table(_STAGE, records=_staged(parts), columns=_STAGE_COLUMNS)
                    )
                    await asyncio.sleep(0)
                if copying is not None:
                    await copying
                    copying = None
            finally:
                # A later chunk failed: let the copy in flight finish, then the transaction rolls
                # back all of it.
                if copying is not None:
                    with contextlib.suppress(Exception):
                        await copying
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
                yield [(r[0], r[1], r[2]) for r in rows]
                if len(rows) < chunk:
                    return

    # Lists (keyset pagination).

    async def list_graphs(
        self, namespace_id: int, name: str | None, after: tuple[str, int] | None, limit: int
    ) -> list[StoredRecord]:
        args: list[object] = [namespace_id, limit]
        filters = given(
            args,
            ("name = {}", None if name is None else (name,)),
            ("(name, fingerprint) > ({}, {}::bigint)", after),
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_LIST_GRAPH_COLS} FROM arti_graphs WHERE namespace_id = $1{filters}"
                " ORDER BY name, fingerprint LIMIT $2",
                *args,
            )
        return [_record(r) for r in rows]

    async def list_snapshots(
        self, namespace_id: int, name: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, StoredRecord]]:
        args: list[object] = [namespace_id, name, limit]
        bounds = given(args, ("seq < {}", None if before_seq is None else (before_seq,)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_LIST_SNAPSHOT_COLS} FROM arti_snapshots WHERE namespace_id = $1 AND name = $2{bounds}"
                " ORDER BY seq DESC LIMIT $3",
                *args,
            )
        return [(r["seq"], _record(r)) for r in rows]

    async def list_tags(
        self, namespace_id: int, name: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[TagRecord]:
        args: list[object] = [namespace_id, limit]
        filters = given(
            args,
            ("name = {}", None if name is None else (name,)),
            ("(name, tag) > ({}, {})", after),
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_TAG_COLS} FROM arti_snapshot_tags WHERE namespace_id = $1{filters}"
                " ORDER BY name, tag LIMIT $2",
                *args,
            )
        return [_tag(r) for r in rows]

    async def tag_history(
        self, namespace_id: int, name: str, tag: str, before_seq: int | None, limit: int
    ) -> list[TagMove]:
        args: list[object] = [namespace_id, name, tag, limit]
        bounds = given(args, ("seq < {}", None if before_seq is None else (before_seq,)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT seq, name, tag, from_snapshot_fingerprint, to_snapshot_fingerprint, actor, move_time"
                f" FROM arti_snapshot_tag_moves WHERE namespace_id = $1 AND name = $2 AND tag = $3{bounds}"
                " ORDER BY seq DESC LIMIT $4",
                *args,
            )
        return [TagMove(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


@contextlib.asynccontextmanager
async def _namespace_gone() -> AsyncIterator[None]:
    # The only foreign key of these rows is their namespace: it was deleted after it was resolved.
    try:
        yield
    except asyncpg.ForeignKeyViolationError:
        raise _namespace_deleted() from None


def _namespace_deleted() -> NotFound:
    return NotFound("the namespace was deleted during the call", reason=Reason.NAMESPACE_NOT_FOUND, metadata={})


def _tag_exists(name: str, tag: str, current: int | None) -> AlreadyExists:
    return AlreadyExists(
        f"Existing `{tag}` tag for Graph `{name}` points to the snapshot with fingerprint {current}",
        reason=Reason.TAG_EXISTS,
        metadata={"name": name, "tag": tag, "snapshot_fingerprint": str(current)},
    )


def _snapshot_missing(name: str, fingerprint: int) -> NotFound:
    return NotFound(
        f"snapshot {fingerprint} of graph {name!r} has not been written",
        reason=Reason.SNAPSHOT_NOT_FOUND,
        metadata={"name": name, "fingerprint": str(fingerprint)},
    )
