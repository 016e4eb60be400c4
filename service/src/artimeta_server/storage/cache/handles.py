"""Handles in Postgres: redun's named pointers, their lineage edges and their validity."""

from __future__ import annotations

from collections.abc import Sequence

from artimeta_server.domain.cache.models import HandleIn, StoredValue
from artimeta_server.storage.cache.values import insert_values
from artimeta_server.storage.postgres import Database


class PostgresHandles:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def advance_handle(
        self,
        ns: int,
        ancestors: Sequence[HandleIn],
        parents: Sequence[HandleIn],
        child: HandleIn,
        values: Sequence[StoredValue],
    ) -> None:
        handles = [*ancestors, child, *parents]
        async with self._db.transaction() as conn:
            await insert_values(conn, ns, values)
            await conn.execute(
                """INSERT INTO cache_handles (namespace_id, hash, fullname, key, value_hash)
                   SELECT $1, h.h, h.f, h.k, h.v FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS h(h, f, k, v)
                   ON CONFLICT DO NOTHING""",
                ns,
                [h.hash for h in handles],
                [h.fullname for h in handles],
                [h.key for h in handles],
                [h.value_hash for h in handles],
            )
            if parents:
                await conn.execute(
                    """INSERT INTO cache_handle_edges (namespace_id, parent_hash, child_hash)
                       SELECT $1, p, $3 FROM unnest($2::text[]) AS p ON CONFLICT DO NOTHING""",
                    ns,
                    [p.hash for p in parents],
                    child.hash,
                )

    async def rollback_handle(self, ns: int, handle_hash: str, fullname: str) -> int:
        async with self._db.transaction() as conn:
            status: str = await conn.execute(
                """
WITH RECURSIVE same AS (
  SELECT h.hash, e.child_hash FROM cache_handles h
  JOIN cache_handle_edges e ON e.namespace_id = h.namespace_id AND e.parent_hash = h.hash
  WHERE h.namespace_id = $1 AND h.fullname = $2 AND h.is_valid),
bad(hash) AS (
  SELECT child_hash FROM same WHERE hash = $3
  UNION SELECT s.child_hash FROM same s JOIN bad ON s.hash = bad.hash)
UPDATE cache_handles SET is_valid = false
WHERE namespace_id = $1 AND hash IN (SELECT hash FROM bad) AND is_valid""",
                ns,
                fullname,
                handle_hash,
            )
        return int(status.rsplit(" ", 1)[1])

    async def is_valid_handle(self, ns: int, handle_hash: str) -> bool:
        async with self._db.connection() as conn:
            valid = await conn.fetchval(
                "SELECT is_valid FROM cache_handles WHERE namespace_id = $1 AND hash = $2", ns, handle_hash
            )
        return bool(valid)
