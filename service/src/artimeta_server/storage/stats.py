"""Cheap figures about the database for the console's header."""

from __future__ import annotations

from artimeta_server.storage import migrate
from artimeta_server.storage.postgres import Database


async def overview(db: Database) -> dict[str, object]:
    """Schema version and each table's live row count as Postgres' statistics have it (approximate,
    never a scan: the header must stay instant with millions of rows)."""
    async with db.connection() as conn:
        version = await migrate.current_version(conn)
        rows = await conn.fetch(
            "SELECT relname, n_live_tup FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname <> 'artimeta_schema_migrations' ORDER BY relname"
        )
    return {"schema_version": version, "rows": {r["relname"]: int(r["n_live_tup"]) for r in rows}}
