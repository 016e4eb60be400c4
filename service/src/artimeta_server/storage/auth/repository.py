"""Bearer tokens in Postgres (hashes only).

Only a NULL namespace_id means every namespace: a token whose namespace row is missing (the
foreign key cascades on delete, but a distributed schema cannot always keep it) reads as namespace
None, which grants nothing."""

from __future__ import annotations

import asyncpg

from artimeta_server.domain.auth.models import ALL_NAMESPACES, Role, StoredToken
from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.reasons import Reason
from artimeta_server.storage.postgres import Database

_SELECT = """
SELECT t.id, CASE WHEN t.namespace_id IS NULL THEN '*' ELSE n.name END AS namespace, t.role, t.secret_hash,
       t.description,
       t.create_time, t.expire_time, t.revoke_time
FROM auth_tokens t LEFT JOIN namespaces n ON n.id = t.namespace_id
"""


def _row(r: asyncpg.Record) -> StoredToken:
    return StoredToken(
        id=r["id"],
        namespace=r["namespace"],
        role=Role.parse(r["role"]),
        secret_hash=r["secret_hash"],
        description=r["description"],
        create_time=r["create_time"],
        expire_time=r["expire_time"],
        revoke_time=r["revoke_time"],
    )


class PostgresTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, token: StoredToken) -> None:
        async with self._db.transaction() as conn:
            namespace_id = None
            if token.namespace != ALL_NAMESPACES:
                namespace_id = await conn.fetchval("SELECT id FROM namespaces WHERE name = $1", token.namespace)
                if namespace_id is None:
                    raise NotFound(
                        f"namespace {token.namespace!r} does not exist",
                        reason=Reason.NAMESPACE_NOT_FOUND,
                        metadata={"namespace": token.namespace or ""},
                    )
            await conn.execute(
                "INSERT INTO auth_tokens (id, namespace_id, role, secret_hash, description, expire_time)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                token.id,
                namespace_id,
                token.role.label,
                token.secret_hash,
                token.description,
                token.expire_time,
            )

    async def get(self, token_id: str) -> StoredToken | None:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(_SELECT + " WHERE t.id = $1", token_id)
        return None if row is None else _row(row)

    async def list(self, namespace: str | None) -> list[StoredToken]:
        async with self._db.connection() as conn:
            if namespace is None:
                rows = await conn.fetch(_SELECT + " ORDER BY t.create_time, t.id")
            elif namespace == ALL_NAMESPACES:
                rows = await conn.fetch(_SELECT + " WHERE t.namespace_id IS NULL ORDER BY t.create_time, t.id")
            else:
                rows = await conn.fetch(_SELECT + " WHERE n.name = $1 ORDER BY t.create_time, t.id", namespace)
        return [_row(r) for r in rows]

    async def revoke(self, token_id: str) -> bool:
        async with self._db.connection() as conn:
            status = await conn.execute(
                "UPDATE auth_tokens SET revoke_time = coalesce(revoke_time, now()) WHERE id = $1", token_id
            )
        return bool(status.endswith(" 1"))
