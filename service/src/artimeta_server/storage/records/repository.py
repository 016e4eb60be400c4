"""Records (manifests of blobs) in Postgres (migration 0021)."""

from __future__ import annotations

import json

import asyncpg
from asyncpg import Record as Row

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.records import limits
from artimeta_server.domain.records.manifest import too_many_entries
from artimeta_server.domain.records.models import Entry, Record, Relation
from artimeta_server.storage.postgres import Database
from artimeta_server.storage.sql import given

_COLUMNS = "uuid, metadata, file_count, total_size, create_time, update_time"


class PostgresRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def commit(
        self,
        namespace_id: int,
        uuid: str,
        entries: list[Entry],
        metadata: dict[str, str] | None,
        relations: list[Relation],
        *,
        replace: bool,
    ) -> tuple[Record, bool]:
        meta = json.dumps(metadata, sort_keys=True) if metadata is not None else None
        async with self._db.transaction() as conn:
            created = await conn.fetchval(
                """
                INSERT INTO records (namespace_id, uuid, metadata) VALUES ($1, $2, COALESCE($3::jsonb, '{}'::jsonb))
                ON CONFLICT (namespace_id, uuid)
                DO UPDATE SET metadata = COALESCE($3::jsonb, records.metadata), update_time = EXCLUDED.update_time
                RETURNING (xmax = 0)
                """,
                namespace_id,
                uuid,
                meta,
            )
            if replace:
                await conn.execute(
                    "DELETE FROM record_entries WHERE namespace_id = $1 AND uuid = $2", namespace_id, uuid
                )
            if entries:
                await conn.execute(
                    """
                    INSERT INTO record_entries (namespace_id, uuid, path, kind, mode, hash, size, mtime_ns, link_target)
                    SELECT $1, $2, * FROM unnest($3::text[], $4::smallint[], $5::int[], $6::text[], $7::bigint[],
                                                 $8::bigint[], $9::text[])
                    ON CONFLICT (namespace_id, uuid, path) DO UPDATE SET
                        kind = EXCLUDED.kind, mode = EXCLUDED.mode, hash = EXCLUDED.hash, size = EXCLUDED.size,
                        mtime_ns = EXCLUDED.mtime_ns, link_target = EXCLUDED.link_target
                    """,
                    namespace_id,
                    uuid,
                    [e.path for e in entries],
                    [e.kind for e in entries],
                    [e.mode for e in entries],
                    [e.digest.hash if e.digest else None for e in entries],
                    [e.digest.size if e.digest else None for e in entries],
                    [e.mtime_ns for e in entries],
                    [e.link_target for e in entries],
                )
            if relations:
                await conn.execute(
                    """
                    INSERT INTO record_relations (namespace_id, uuid, related_uuid, name)
                    SELECT $1, $2, * FROM unnest($3::text[], $4::text[]) ON CONFLICT DO NOTHING
                    """,
                    namespace_id,
                    uuid,
                    [r.related_uuid for r in relations],
                    [r.name for r in relations],
                )
            row = await conn.fetchrow(
                f"""
                UPDATE records r SET file_count = s.n, total_size = s.total
                FROM (SELECT count(hash) AS n, COALESCE(sum(size), 0) AS total, count(*) AS entries
                      FROM record_entries WHERE namespace_id = $1 AND uuid = $2) s
                WHERE r.namespace_id = $1 AND r.uuid = $2
                RETURNING {", ".join("r." + c.strip() for c in _COLUMNS.split(","))}, s.entries
                """,
                namespace_id,
                uuid,
            )
            assert row is not None
            if row["entries"] > limits.MAX_ENTRIES:
                # A merge commit adds to what the record holds: the limit is on the result, and
                # raising here rolls the whole commit back.
                raise too_many_entries(row["entries"])
            record = await self._assemble(conn, namespace_id, row, with_entries=False)
        return record, bool(created)

    async def _assemble(self, conn: asyncpg.Connection, namespace_id: int, row: Row, *, with_entries: bool) -> Record:
        rels = await conn.fetch(
            "SELECT related_uuid, name FROM record_relations WHERE namespace_id = $1 AND uuid = $2 "
            "ORDER BY related_uuid, name",
            namespace_id,
            row["uuid"],
        )
        entries: list[Entry] = []
        if with_entries:
            for e in await conn.fetch(
                "SELECT path, kind, mode, hash, size, mtime_ns, link_target FROM record_entries "
                "WHERE namespace_id = $1 AND uuid = $2 ORDER BY path",
                namespace_id,
                row["uuid"],
            ):
                digest = Digest(e["hash"], e["size"]) if e["hash"] is not None else None
                entries.append(Entry(e["path"], e["kind"], e["mode"], digest, e["mtime_ns"], e["link_target"]))
        return _to_record(row, [Relation(r["related_uuid"], r["name"]) for r in rels], entries)

    async def get(self, namespace_id: int, uuid: str, *, with_entries: bool) -> Record | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM records WHERE namespace_id = $1 AND uuid = $2", namespace_id, uuid
            )
            if row is None:
                return None
            return await self._assemble(conn, namespace_id, row, with_entries=with_entries)

    async def delete(self, namespace_id: int, uuid: str) -> bool:
        async with self._db.connection() as conn:
            status: str = await conn.execute(
                "DELETE FROM records WHERE namespace_id = $1 AND uuid = $2", namespace_id, uuid
            )
        return status.endswith(" 1")

    async def page(
        self, namespace_id: int, prefix: str, metadata: dict[str, str], after: str | None, limit: int
    ) -> list[Record]:
        args: list[object] = [namespace_id, prefix, json.dumps(metadata), limit]
        bounds = given(args, ("uuid > {}", None if after is None else (after,)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""
                SELECT {_COLUMNS} FROM records
                WHERE namespace_id = $1 AND starts_with(uuid, $2) AND metadata @> $3::jsonb{bounds}
                ORDER BY uuid LIMIT $4
                """,
                *args,
            )
            rels = await conn.fetch(
                "SELECT uuid, related_uuid, name FROM record_relations WHERE namespace_id = $1 AND uuid = ANY($2) "
                "ORDER BY uuid, related_uuid, name",
                namespace_id,
                [r["uuid"] for r in rows],
            )
        by_uuid: dict[str, list[Relation]] = {}
        for rel in rels:
            by_uuid.setdefault(rel["uuid"], []).append(Relation(rel["related_uuid"], rel["name"]))
        return [_to_record(r, by_uuid.get(r["uuid"], []), []) for r in rows]

    async def neighbours(self, namespace_id: int, uuids: list[str], limit: int) -> list[str]:
        """Records related to any of `uuids` in either direction (`uuids` included when related to
        one another), at most `limit` of them."""
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                """
                SELECT u FROM (
                    SELECT related_uuid AS u FROM record_relations WHERE namespace_id = $1 AND uuid = ANY($2::text[])
                    UNION
                    SELECT uuid FROM record_relations WHERE namespace_id = $1 AND related_uuid = ANY($2::text[])) n
                LIMIT $3
                """,
                namespace_id,
                uuids,
                limit,
            )
        return [r["u"] for r in rows]


def _to_record(row: Row, relations: list[Relation], entries: list[Entry]) -> Record:
    return Record(
        uuid=row["uuid"],
        metadata=json.loads(row["metadata"]),
        relations=relations,
        entries=entries,
        file_count=row["file_count"],
        total_size=row["total_size"],
        create_time=row["create_time"],
        update_time=row["update_time"],
    )
