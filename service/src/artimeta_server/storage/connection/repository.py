"""arti's Connection in Postgres: graphs and snapshots (immutable rows keyed by content), their
lineage, snapshot tags and the lists; partitions are partitions.py's."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from artimeta_server.domain.connection.lineage import GraphLineage
from artimeta_server.domain.connection.models import DocumentRow, SnapshotTag, SnapshotTagMove
from artimeta_server.storage.connection.lineage_codec import lineage_from_json, lineage_json
from artimeta_server.storage.connection.partitions import PostgresPartitions
from artimeta_server.storage.connection.rows import (
    GRAPH_COLS,
    LIST_GRAPH_COLS,
    LIST_SNAPSHOT_COLS,
    SNAPSHOT_COLS,
    TAG_COLS,
    count,
    document_row,
    namespace_gone,
    snapshot_tag,
)
from artimeta_server.storage.connection.snapshot_tags import PostgresSnapshotTagUnit, snapshot_tag_unit
from artimeta_server.storage.sql import given

# Tags of one namespace by (name, tag); LATERAL + OFFSET 0 keeps it one primary-key probe per tag.
_TAGS = f"""
SELECT t.*
FROM unnest($2::text[], $3::text[]) AS k(name, tag)
CROSS JOIN LATERAL (
    SELECT {TAG_COLS} FROM arti_snapshot_tags
    WHERE namespace_id = $1 AND name = k.name AND tag = k.tag
    OFFSET 0
) t
"""
_TAG = f"SELECT {TAG_COLS} FROM arti_snapshot_tags WHERE namespace_id = $1 AND name = $2 AND tag = $3"


class PostgresConnection(PostgresPartitions):
    # Graphs and snapshots: immutable rows keyed by content.

    async def insert_graph(self, namespace_id: int, rec: DocumentRow, lineage: GraphLineage | None = None) -> bool:
        doc = rec.document
        # Graph and lineage commit together; a graph alone needs no transaction of its own.
        scope = self._db.connection() if lineage is None else self._db.transaction()
        async with scope as conn, namespace_gone():
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
        return count(status) == 1

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

    async def get_graph(self, namespace_id: int, name: str, fingerprint: int) -> DocumentRow | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {GRAPH_COLS} FROM arti_graphs WHERE namespace_id = $1 AND name = $2 AND fingerprint = $3",
                namespace_id,
                name,
                fingerprint,
            )
        return None if row is None else document_row(row)

    async def insert_snapshot(self, namespace_id: int, rec: DocumentRow) -> bool:
        doc = rec.document
        async with self._db.connection() as conn, namespace_gone():
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
        return count(status) == 1

    async def get_snapshot(self, namespace_id: int, name: str, fingerprint: int) -> DocumentRow | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {SNAPSHOT_COLS} FROM arti_snapshots WHERE namespace_id = $1 AND name = $2 AND fingerprint = $3",
                namespace_id,
                name,
                fingerprint,
            )
        return None if row is None else document_row(row)

    # Tags: mutable pointers; every move is announced to the replicas' caches.

    async def get_tags(self, namespace_id: int, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SnapshotTag]:
        async with self._db.connection() as conn:
            if len(keys) == 1:
                rows = await conn.fetch(_TAG, namespace_id, keys[0][0], keys[0][1])
            else:
                rows = await conn.fetch(_TAGS, namespace_id, [k[0] for k in keys], [k[1] for k in keys])
        return {(r["name"], r["tag"]): snapshot_tag(r) for r in rows}

    def snapshot_tag_unit(
        self, namespace_id: int, name: str, tag: str
    ) -> AbstractAsyncContextManager[PostgresSnapshotTagUnit]:
        return snapshot_tag_unit(self._db, namespace_id, name, tag)

    async def list_graphs(
        self, namespace_id: int, name: str | None, after: tuple[str, int] | None, limit: int
    ) -> list[DocumentRow]:
        args: list[object] = [namespace_id, limit]
        filters = given(
            args,
            ("name = {}", None if name is None else (name,)),
            ("(name, fingerprint) > ({}, {}::bigint)", after),
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {LIST_GRAPH_COLS} FROM arti_graphs WHERE namespace_id = $1{filters}"
                " ORDER BY name, fingerprint LIMIT $2",
                *args,
            )
        return [document_row(r) for r in rows]

    async def list_snapshots(
        self, namespace_id: int, name: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, DocumentRow]]:
        args: list[object] = [namespace_id, name, limit]
        bounds = given(args, ("seq < {}", None if before_seq is None else (before_seq,)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {LIST_SNAPSHOT_COLS} FROM arti_snapshots WHERE namespace_id = $1 AND name = $2{bounds}"
                " ORDER BY seq DESC LIMIT $3",
                *args,
            )
        return [(r["seq"], document_row(r)) for r in rows]

    async def list_tags(
        self, namespace_id: int, name: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[SnapshotTag]:
        args: list[object] = [namespace_id, limit]
        filters = given(
            args,
            ("name = {}", None if name is None else (name,)),
            ("(name, tag) > ({}, {})", after),
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {TAG_COLS} FROM arti_snapshot_tags WHERE namespace_id = $1{filters}"
                " ORDER BY name, tag LIMIT $2",
                *args,
            )
        return [snapshot_tag(r) for r in rows]

    async def tag_history(
        self, namespace_id: int, name: str, tag: str, before_seq: int | None, limit: int
    ) -> list[SnapshotTagMove]:
        args: list[object] = [namespace_id, name, tag, limit]
        bounds = given(args, ("seq < {}", None if before_seq is None else (before_seq,)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT seq, name, tag, from_snapshot_fingerprint, to_snapshot_fingerprint, actor, move_time"
                f" FROM arti_snapshot_tag_moves WHERE namespace_id = $1 AND name = $2 AND tag = $3{bounds}"
                " ORDER BY seq DESC LIMIT $4",
                *args,
            )
        return [SnapshotTagMove(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows]
