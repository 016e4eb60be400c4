"""Cheap figures about the database for the console's header."""

from __future__ import annotations

from artimeta_server.storage import migrate
from artimeta_server.storage.postgres import Database

# Up to this many rows (by Postgres' statistics) a table is counted exactly; above, the estimate
# stands, so the header stays instant with millions of rows.
EXACT_BELOW = 50_000


async def overview(db: Database) -> dict[str, object]:
    """Schema version and the row count of each table."""
    async with db.connection() as conn:
        version = await migrate.current_version(conn)
        rows = await conn.fetch(
            "SELECT relname, n_live_tup, quote_ident(schemaname) || '.' || quote_ident(relname) AS qualified "
            "FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname <> 'artimeta_schema_migrations' ORDER BY relname"
        )
        counts: dict[str, int] = {}
        for r in rows:
            estimate = int(r["n_live_tup"])
            if estimate < EXACT_BELOW:
                estimate = int(await conn.fetchval(f"SELECT count(*) FROM {r['qualified']}"))
            counts[r["relname"]] = estimate
    return {"schema_version": version, "rows": counts}
