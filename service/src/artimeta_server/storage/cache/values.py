"""Values in Postgres: inline bytes or a blob digest per row, inserted if absent."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from artimeta_server.domain.cache.models import StoredValue
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.fresh import cache_checks_key
from artimeta_server.storage.changes import announce
from artimeta_server.storage.postgres import Database

# Counted by RETURNING: on Citus an INSERT ... SELECT's status counts the rows given, not inserted.
_INSERT_VALUES = """
INSERT INTO cache_values (namespace_id, value_hash, type_name, format, data, blob_hash, blob_size, size)
SELECT $1, v.h, v.t, v.f, v.d, v.bh, v.bs, v.s
FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::bigint[], $8::bigint[])
     AS v(h, t, f, d, bh, bs, s)
ON CONFLICT DO NOTHING RETURNING 1
"""

# The columns stored_value reads, from cache_values aliased v.
VALUE_COLUMNS = "v.value_hash, v.type_name, v.format, v.data, v.blob_hash, v.blob_size, v.size"


def stored_value(r: asyncpg.Record) -> StoredValue | None:
    if r["value_hash"] is None:
        return None
    blob = Digest(r["blob_hash"], r["blob_size"]) if r["blob_hash"] is not None else None
    return StoredValue(r["value_hash"], r["type_name"], r["format"], r["data"], blob, r["size"])


async def insert_values(conn: asyncpg.Connection, ns: int, values: Sequence[StoredValue]) -> int:
    if not values:
        return 0
    created = await conn.fetch(
        _INSERT_VALUES,
        ns,
        [v.value_hash for v in values],
        [v.type_name for v in values],
        [v.format for v in values],
        [v.data for v in values],
        [v.blob.hash if v.blob else None for v in values],
        [v.blob.size if v.blob else None for v in values],
        [v.size for v in values],
    )
    if created:
        # A value a check skipped as missing may now make it hit (domain/cache/check_memo.py).
        await announce(conn, cache_checks_key(ns))
    return len(created)


async def fetch_values(conn: asyncpg.Connection, ns: int, hashes: Sequence[str]) -> list[StoredValue]:
    rows = await conn.fetch(
        f"SELECT {VALUE_COLUMNS} FROM cache_values v WHERE v.namespace_id = $1 AND v.value_hash = ANY($2::text[])",
        ns,
        list(hashes),
    )
    return [s for s in map(stored_value, rows) if s is not None]


class PostgresValues:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_values(self, ns: int, values: Sequence[StoredValue]) -> int:
        async with self._db.transaction() as conn:
            return await insert_values(conn, ns, values)

    async def existing_values(self, ns: int, hashes: Sequence[str]) -> set[str]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT value_hash FROM cache_values WHERE namespace_id = $1 AND value_hash = ANY($2::text[])",
                ns,
                list(hashes),
            )
        return {r[0] for r in rows}

    async def get_values(self, ns: int, hashes: Sequence[str]) -> dict[str, StoredValue]:
        async with self._db.connection() as conn:
            return {s.value_hash: s for s in await fetch_values(conn, ns, hashes)}
