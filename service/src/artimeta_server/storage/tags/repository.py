"""Tags and their edit edges in Postgres. Writers of one entity's tags serialize on a
transaction-scoped advisory lock, so concurrent supersessions never lose an edge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from artimeta_server.domain.tags.models import NewTag, Tag
from artimeta_server.storage.postgres import Database
from artimeta_server.storage.sql import given

# Used where $1 is the namespace: the edits are filtered by $1 itself so that Citus sees every
# table pinned to one shard and routes the statement there whole.
_ROW = """t.tag_hash, t.seq, t.entity_type, t.entity_id, t.key, t.value_json, t.is_current, t.create_time,
  ARRAY(SELECT parent_hash FROM tag_edits e WHERE e.namespace_id = $1 AND e.child_hash = t.tag_hash
        ORDER BY 1) AS parents"""


def _row(r: asyncpg.Record) -> Tag:
    return Tag(
        r["tag_hash"],
        r["seq"],
        r["entity_type"],
        r["entity_id"],
        r["key"],
        r["value_json"],
        r["is_current"],
        r["create_time"],
        list(r["parents"]),
    )


class PostgresTagUnit:
    def __init__(self, conn: asyncpg.Connection, ns: int, entity_id: str) -> None:
        self._conn = conn
        self._ns = ns
        self._entity = entity_id

    async def current_hashes(self, keys: Sequence[str]) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT tag_hash FROM tags WHERE namespace_id = $1 AND entity_id = $2 AND key = ANY($3::text[])
               AND is_current ORDER BY seq""",
            self._ns,
            self._entity,
            list(keys),
        )
        return [r[0] for r in rows]

    async def matching_current(self, pairs: Sequence[tuple[str, str]], keys: Sequence[str]) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT tag_hash FROM tags t WHERE namespace_id = $1 AND entity_id = $2 AND is_current AND (
                 key = ANY($5::text[])
                 OR EXISTS (SELECT 1 FROM unnest($3::text[], $4::text[]) AS p(k, v) WHERE t.key = p.k AND t.value = p.v::jsonb))
               ORDER BY seq""",
            self._ns,
            self._entity,
            [k for k, _ in pairs],
            [v for _, v in pairs],
            list(keys),
        )
        return [r[0] for r in rows]

    async def superseded(self, hashes: Sequence[str]) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT DISTINCT parent_hash FROM tag_edits WHERE namespace_id = $1 AND parent_hash = ANY($2::text[])",
            self._ns,
            list(hashes),
        )
        return {r[0] for r in rows}

    async def write(self, tags: Sequence[NewTag], parents: Sequence[str]) -> None:
        if tags:
            await self._conn.execute(
                """INSERT INTO tags (namespace_id, tag_hash, entity_type, entity_id, key, value, value_json)
                   SELECT $1, w.h, w.t, w.e, w.k, w.v::jsonb, w.v
                   FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS w(h, t, e, k, v)
                   ON CONFLICT DO NOTHING""",
                self._ns,
                [w.tag_hash for w in tags],
                [w.entity_type for w in tags],
                [w.entity_id for w in tags],
                [w.key for w in tags],
                [w.value_json for w in tags],
            )
        if parents and tags:
            await self._conn.execute(
                """INSERT INTO tag_edits (namespace_id, parent_hash, child_hash)
                   SELECT $1, p, c FROM unnest($2::text[]) AS p, unnest($3::text[]) AS c ON CONFLICT DO NOTHING""",
                self._ns,
                list(dict.fromkeys(parents)),
                [w.tag_hash for w in tags],
            )
        if parents:
            await self._conn.execute(
                "UPDATE tags SET is_current = false WHERE namespace_id = $1 AND tag_hash = ANY($2::text[]) AND is_current",
                self._ns,
                list(parents),
            )

    async def rows(self, hashes: Sequence[str]) -> list[Tag]:
        rows = await self._conn.fetch(
            f"SELECT {_ROW} FROM tags t WHERE t.namespace_id = $1 AND t.tag_hash = ANY($2::text[])",
            self._ns,
            list(hashes),
        )
        by_hash = {r["tag_hash"]: _row(r) for r in rows}
        return [by_hash[h] for h in hashes if h in by_hash]


class PostgresTags:
    def __init__(self, db: Database) -> None:
        self._db = db

    @asynccontextmanager
    async def unit(self, ns: int, entity_id: str) -> AsyncIterator[PostgresTagUnit]:
        async with self._db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))", entity_id, ns)
            yield PostgresTagUnit(conn, ns, entity_id)

    async def get_current(self, ns: int, entity_ids: Sequence[str]) -> list[Tag]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""SELECT {_ROW} FROM tags t WHERE t.namespace_id = $1 AND t.entity_id = ANY($2::text[]) AND t.is_current
                    ORDER BY t.seq""",
                ns,
                list(entity_ids),
            )
        return [_row(r) for r in rows]

    async def history(self, ns: int, entity_id: str, key: str) -> list[Tag]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_ROW} FROM tags t WHERE t.namespace_id = $1 AND t.entity_id = $2 AND t.key = $3 ORDER BY t.seq",
                ns,
                entity_id,
                key,
            )
        return [_row(r) for r in rows]

    async def search(
        self, ns: int, key: str, value_json: str | None, entity_type: str | None, after_seq: int | None, limit: int
    ) -> list[Tag]:
        args: list[object] = [ns, key, limit]
        filters = given(
            args,
            ("t.value = {}::jsonb", None if value_json is None else (value_json,)),
            ("t.entity_type = {}", None if entity_type is None else (entity_type,)),
            ("t.seq > {}", None if after_seq is None else (after_seq,)),
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""SELECT {_ROW} FROM tags t WHERE t.namespace_id = $1 AND t.key = $2 AND t.is_current{filters}
                    ORDER BY t.seq LIMIT $3""",
                *args,
            )
        return [_row(r) for r in rows]
