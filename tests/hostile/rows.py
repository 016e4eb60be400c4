"""Row counts of every table of one namespace: how a hostile test proves a refused request wrote nothing."""

from __future__ import annotations

from artimeta_server.server import Server


async def tables(server: Server) -> list[str]:
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        rows = await conn.fetch(
            """SELECT table_name FROM information_schema.columns
               WHERE table_schema = current_schema() AND column_name = 'namespace_id' ORDER BY 1"""
        )
    return [r[0] for r in rows]


async def namespace_id(server: Server, name: str) -> int:
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        found: int = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", name)
    return found


class Snapshot:
    """Row counts of every namespace-scoped table for one namespace, plus the namespace count."""

    def __init__(self, server: Server, namespace_id: int, tables: list[str]) -> None:
        assert server.domain is not None
        self._db = server.domain.db
        self._ns = namespace_id
        parts = [f"SELECT '{t}', count(*) FROM {t} WHERE namespace_id = $1" for t in tables]
        parts.append("SELECT 'namespaces', count(*) FROM namespaces WHERE $1::bigint IS NOT NULL")
        self._query = " UNION ALL ".join(parts)

    async def take(self) -> dict[str, int]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(self._query, self._ns)
        return {r[0]: r[1] for r in rows}

    @classmethod
    async def of(cls, server: Server, name: str) -> Snapshot:
        return cls(server, await namespace_id(server, name), await tables(server))
