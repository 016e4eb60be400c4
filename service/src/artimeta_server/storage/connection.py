"""arti's Connection in Postgres: set-based writes (one INSERT … SELECT FROM unnest … ON CONFLICT
DO NOTHING per table, whatever the number of partitions) and index-driven reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from artimeta_server.storage.postgres import Database

_GRAPH_COLS = "name, fingerprint, 0::bigint AS snapshot_id, 0::bigint AS graph_fingerprint, document, document_hash, document_size, document_format, code_refs, create_time"
_SNAPSHOT_COLS = "name, fingerprint, snapshot_id, graph_fingerprint, document, document_hash, document_size, document_format, code_refs, create_time"
_LIST_GRAPH_COLS = "name, fingerprint, 0::bigint AS snapshot_id, 0::bigint AS graph_fingerprint, NULL::bytea AS document, NULL::text AS document_hash, document_size, document_format, code_refs, create_time"
_LIST_SNAPSHOT_COLS = "name, fingerprint, snapshot_id, graph_fingerprint, NULL::bytea AS document, NULL::text AS document_hash, document_size, document_format, code_refs, create_time, seq"
_TAG_COLS = "name, tag, snapshot_fingerprint, actor, update_time"

# Rows are sorted by the unique index's order before they are inserted, so the index is filled
# page by page instead of at random places.
_INSERT_STORAGE = """
INSERT INTO arti_storage_partitions
    (namespace_id, storage_fingerprint, input_fingerprint, keys, ident, body, body_hash, body_size)
SELECT $1, $2, u.fp, u.keys, u.ident, u.body, u.body_hash, u.body_size
FROM unnest($3::bigint[], $4::bytea[], $5::bytea[], $6::bytea[], $7::text[], $8::bigint[])
    AS u(fp, keys, ident, body, body_hash, body_size)
ORDER BY u.fp, u.keys, u.ident
ON CONFLICT DO NOTHING
"""

_INSERT_SNAPSHOT = """
INSERT INTO arti_snapshot_partitions
    (namespace_id, name, snapshot_fingerprint, artifact_key, ident, body, body_hash, body_size)
SELECT $1, $2, $3, $4, u.ident, u.body, u.body_hash, u.body_size
FROM unnest($5::bytea[], $6::bytea[], $7::text[], $8::bigint[]) AS u(ident, body, body_hash, body_size)
ORDER BY u.ident
ON CONFLICT DO NOTHING
"""

# LATERAL makes every wanted (keys, fingerprint) pair one probe of the unique index, so the
# cost follows the filter's size, not the table's, whatever the planner estimates.
FILTERED_READ = """
SELECT p.body, p.body_hash, p.body_size
FROM unnest($3::bytea[], $4::bigint[]) AS f(keys, fp)
CROSS JOIN LATERAL (
    SELECT body, body_hash, body_size FROM arti_storage_partitions
    WHERE namespace_id = $1 AND storage_fingerprint = $2 AND input_fingerprint = f.fp AND keys = f.keys
) p
UNION ALL
SELECT p.body, p.body_hash, p.body_size
FROM unnest($5::bytea[]) AS f(keys)
CROSS JOIN LATERAL (
    SELECT body, body_hash, body_size FROM arti_storage_partitions
    WHERE namespace_id = $1 AND storage_fingerprint = $2 AND input_fingerprint IS NULL AND keys = f.keys
) p
"""

_ALL_STORAGE = """
SELECT body, body_hash, body_size FROM arti_storage_partitions
WHERE namespace_id = $1 AND storage_fingerprint = $2
"""

_SNAPSHOT_PARTS = """
SELECT body, body_hash, body_size FROM arti_snapshot_partitions
WHERE namespace_id = $1 AND name = $2 AND snapshot_fingerprint = $3 AND artifact_key = $4
"""


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


class PostgresConnection:
    def __init__(self, db: Database) -> None:
        self._db = db

    # Graphs and snapshots: immutable rows keyed by content.

    async def insert_graph(self, namespace_id: int, rec: StoredRecord) -> bool:
        doc = rec.document
        async with self._db.connection() as conn:
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
        return _count(status) == 1

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
        async with self._db.connection() as conn:
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

    # Tags: mutable pointers, always read from here.

    async def get_tag(self, namespace_id: int, name: str, tag: str) -> TagRecord | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_TAG_COLS} FROM arti_snapshot_tags WHERE namespace_id = $1 AND name = $2 AND tag = $3",
                namespace_id,
                name,
                tag,
            )
        return None if row is None else _tag(row)

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
                            reason="TAG_MOVED",
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
                        reason="TAG_MOVED",
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

    async def add_storage_partitions(self, namespace_id: int, storage_fingerprint: int, parts: StoredPartitions) -> int:
        async with self._db.connection() as conn:
            status = await conn.execute(_INSERT_STORAGE, namespace_id, storage_fingerprint, *_storage_args(parts))
        return _count(status)

    async def add_snapshot_partitions(
        self, namespace_id: int, name: str, snapshot_fingerprint: int, artifact_key: str, parts: StoredPartitions
    ) -> int:
        async with self._db.connection() as conn:
            status = await conn.execute(
                _INSERT_SNAPSHOT, namespace_id, name, snapshot_fingerprint, artifact_key, *_snapshot_args(parts)
            )
        return _count(status)

    async def add_artifact_and_snapshot_partitions(
        self,
        namespace_id: int,
        storage_fingerprint: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        parts: StoredPartitions,
    ) -> tuple[int, int]:
        async with self._db.transaction() as conn:
            a = await conn.execute(_INSERT_STORAGE, namespace_id, storage_fingerprint, *_storage_args(parts))
            s = await conn.execute(
                _INSERT_SNAPSHOT, namespace_id, name, snapshot_fingerprint, artifact_key, *_snapshot_args(parts)
            )
        return _count(a), _count(s)

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
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_LIST_GRAPH_COLS} FROM arti_graphs WHERE namespace_id = $1"
                " AND ($2::text IS NULL OR name = $2)"
                " AND ($3::text IS NULL OR (name, fingerprint) > ($3, $4::bigint))"
                " ORDER BY name, fingerprint LIMIT $5",
                namespace_id,
                name,
                None if after is None else after[0],
                None if after is None else after[1],
                limit,
            )
        return [_record(r) for r in rows]

    async def list_snapshots(
        self, namespace_id: int, name: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, StoredRecord]]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_LIST_SNAPSHOT_COLS} FROM arti_snapshots WHERE namespace_id = $1 AND name = $2"
                " AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4",
                namespace_id,
                name,
                before_seq,
                limit,
            )
        return [(r["seq"], _record(r)) for r in rows]

    async def list_tags(
        self, namespace_id: int, name: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[TagRecord]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_TAG_COLS} FROM arti_snapshot_tags WHERE namespace_id = $1"
                " AND ($2::text IS NULL OR name = $2)"
                " AND ($3::text IS NULL OR (name, tag) > ($3, $4::text))"
                " ORDER BY name, tag LIMIT $5",
                namespace_id,
                name,
                None if after is None else after[0],
                None if after is None else after[1],
                limit,
            )
        return [_tag(r) for r in rows]

    async def tag_history(
        self, namespace_id: int, name: str, tag: str, before_seq: int | None, limit: int
    ) -> list[TagMove]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT seq, name, tag, from_snapshot_fingerprint, to_snapshot_fingerprint, actor, move_time"
                " FROM arti_snapshot_tag_moves WHERE namespace_id = $1 AND name = $2 AND tag = $3"
                " AND ($4::bigint IS NULL OR seq < $4) ORDER BY seq DESC LIMIT $5",
                namespace_id,
                name,
                tag,
                before_seq,
                limit,
            )
        return [TagMove(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]


def _tag_exists(name: str, tag: str, current: int | None) -> AlreadyExists:
    return AlreadyExists(
        f"Existing `{tag}` tag for Graph `{name}` points to the snapshot with fingerprint {current}",
        reason="TAG_EXISTS",
        metadata={"name": name, "tag": tag, "snapshot_fingerprint": str(current)},
    )


def _snapshot_missing(name: str, fingerprint: int) -> NotFound:
    return NotFound(
        f"snapshot {fingerprint} of graph {name!r} has not been written",
        reason="SNAPSHOT_NOT_FOUND",
        metadata={"name": name, "fingerprint": str(fingerprint)},
    )
