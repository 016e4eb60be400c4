"""Cheap figures about the database for the console's header, scoped to what the caller may see."""

from __future__ import annotations

from collections.abc import Sequence

from artimeta_server.storage import migrate
from artimeta_server.storage.postgres import Database

# A scoped caller's per-table counts stop here: each is one index range scan of at most this many
# entries, so the header costs the same for a namespace of a billion rows.
SCOPED_CAP = 10_000
MAX_SCOPED_NAMESPACES = 16

_TABLES_WITH_NAMESPACE = """
SELECT c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS qualified
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'namespace_id' AND NOT a.attisdropped
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""


async def overview(db: Database, namespaces: Sequence[str] | None) -> dict[str, object]:
    """Schema version and row counts. `namespaces` None: the whole database, from Postgres'
    statistics (one query, estimates); otherwise the rows of those namespaces only, each table's
    count capped at SCOPED_CAP, in one statement."""
    async with db.connection() as conn:
        version = await migrate.current_version(conn)
        if namespaces is None:
            rows = await conn.fetch(
                "SELECT relname, n_live_tup FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname <> 'artimeta_schema_migrations' ORDER BY relname"
            )
            return {"schema_version": version, "rows": {r["relname"]: int(r["n_live_tup"]) for r in rows}}
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM namespaces WHERE name = ANY($1::text[]) ORDER BY id",
                list(namespaces)[:MAX_SCOPED_NAMESPACES],
            )
        ]
        counts: dict[str, int] = {"namespaces": len(ids)}
        tables = await conn.fetch(_TABLES_WITH_NAMESPACE)
        if ids and tables:
            parts = [
                f"SELECT {i}::int AS t, (SELECT count(*) FROM (SELECT 1 FROM {t['qualified']} "
                f"WHERE namespace_id = ANY($1::bigint[]) LIMIT {SCOPED_CAP}) s) AS n"
                for i, t in enumerate(tables)
            ]
            for r in await conn.fetch(" UNION ALL ".join(parts), ids):
                counts[tables[r["t"]]["relname"]] = int(r["n"])
        else:
            counts.update({t["relname"]: 0 for t in tables})
    return {"schema_version": version, "rows": counts, "rows_capped_at": SCOPED_CAP}
