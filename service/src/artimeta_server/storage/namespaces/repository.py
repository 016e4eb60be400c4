"""Namespaces in Postgres: rows, and tombstones for the blobs of deleted ones."""

from __future__ import annotations

import json
from collections.abc import Mapping

import asyncpg

from artimeta_server.domain.errors import AlreadyExists, NotFound
from artimeta_server.domain.fresh import namespace_key
from artimeta_server.domain.namespaces.models import Namespace
from artimeta_server.domain.reasons import Reason
from artimeta_server.storage.changes import announce
from artimeta_server.storage.namespaces.holds import CLAIM_NAMESPACE, UNREFERENCING_TABLES
from artimeta_server.storage.postgres import Database
from artimeta_server.storage.sql import given

_COLUMNS = "id, name, description, labels, create_time"


def _row(r: asyncpg.Record) -> Namespace:
    return Namespace(
        id=r["id"],
        name=r["name"],
        description=r["description"],
        labels=json.loads(r["labels"]),
        create_time=r["create_time"],
    )


class PostgresNamespaces:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, description: str, labels: Mapping[str, str]) -> Namespace:
        async with self._db.connection() as conn:
            try:
                row = await conn.fetchrow(
                    f"INSERT INTO namespaces (name, description, labels) VALUES ($1, $2, $3::jsonb) RETURNING {_COLUMNS}",
                    name,
                    description,
                    json.dumps(dict(labels), sort_keys=True),
                )
            except asyncpg.UniqueViolationError:
                raise AlreadyExists(
                    f"namespace {name!r} already exists", reason=Reason.NAMESPACE_EXISTS, metadata={"namespace": name}
                ) from None
        assert row is not None
        return _row(row)

    async def get(self, name: str) -> Namespace:
        async with self._db.connection() as conn:
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM namespaces WHERE name = $1", name)
        if row is None:
            raise NotFound(
                f"namespace {name!r} does not exist", reason=Reason.NAMESPACE_NOT_FOUND, metadata={"namespace": name}
            )
        return _row(row)

    async def page(self, after: str | None, limit: int) -> list[Namespace]:
        args: list[object] = [limit]
        bounds = given(args, ("name > {}", None if after is None else (after,)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_COLUMNS} FROM namespaces WHERE true{bounds} ORDER BY name LIMIT $1", *args
            )
        return [_row(r) for r in rows]

    async def delete(self, name: str) -> Namespace | None:
        async with self._db.transaction() as conn:
            row = await conn.fetchrow(f"DELETE FROM namespaces WHERE name = $1 RETURNING {_COLUMNS}", name)
            if row is not None:
                await conn.execute(CLAIM_NAMESPACE, row["id"])
                for table in UNREFERENCING_TABLES:
                    await conn.execute(f"DELETE FROM {table} WHERE namespace_id = $1", row["id"])
                await announce(conn, namespace_key(name))
                await conn.execute("INSERT INTO namespace_tombstones (id, name) VALUES ($1, $2)", row["id"], name)
        return None if row is None else _row(row)

    async def tombstones(self) -> list[int]:
        async with self._db.connection() as conn:
            rows = await conn.fetch("SELECT id FROM namespace_tombstones ORDER BY id")
        return [r["id"] for r in rows]

    async def clear_tombstone(self, namespace_id: int, *, older_than_s: float = 0.0) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                "DELETE FROM namespace_tombstones WHERE id = $1 AND delete_time <= now() - make_interval(secs => $2)",
                namespace_id,
                older_than_s,
            )
