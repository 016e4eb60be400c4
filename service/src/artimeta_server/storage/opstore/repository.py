"""chariots' op store in Postgres."""

from __future__ import annotations

import asyncpg

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.opstore.models import OpVersion, next_numbers
from artimeta_server.storage.postgres import Database

_V = "v.major_hash, v.minor_hash, v.patch_hash, v.creation_time, v.major_number, v.minor_number, v.patch_number"


def version_from_row(r: asyncpg.Record) -> OpVersion:
    """An op version from a row with its hash, number and creation_time columns."""
    return OpVersion(
        r["major_hash"],
        r["minor_hash"],
        r["patch_hash"],
        r["creation_time"],
        r["major_number"],
        r["minor_number"],
        r["patch_number"],
    )


async def _op_id(conn: asyncpg.Connection, ns: int, name: str, *, lock: bool = False) -> int:
    await conn.execute("INSERT INTO opstore_ops (namespace_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", ns, name)
    op_id: int = await conn.fetchval(
        f"SELECT id FROM opstore_ops WHERE namespace_id = $1 AND name = $2{' FOR UPDATE' if lock else ''}", ns, name
    )
    return op_id


class PostgresOpStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(self, downstream: str | None, upstream: str, version: OpVersion, *, ns: int) -> OpVersion:
        async with self._db.transaction() as conn:
            # The op's row lock serializes concurrent registrations of its versions, so a version
            # gets exactly one number and numbers never repeat.
            up_id = await _op_id(conn, ns, upstream, lock=True)
            row = await conn.fetchrow(
                f"""SELECT v.id, {_V} FROM opstore_versions v WHERE v.namespace_id = $1 AND v.op_id = $2
                    AND v.major_hash = $3 AND v.minor_hash = $4 AND v.patch_hash = $5""",
                ns,
                up_id,
                version.major,
                version.minor,
                version.patch,
            )
            if row is None:
                latest = await conn.fetchrow(
                    f"""SELECT {_V} FROM opstore_versions v WHERE v.namespace_id = $1 AND v.op_id = $2
                        ORDER BY v.major_number DESC, v.minor_number DESC, v.patch_number DESC LIMIT 1""",
                    ns,
                    up_id,
                )
                numbers = next_numbers(None if latest is None else version_from_row(latest), version)
                row = await conn.fetchrow(
                    f"""INSERT INTO opstore_versions AS v (namespace_id, op_id, major_hash, minor_hash, patch_hash,
                          creation_time, major_number, minor_number, patch_number)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING v.id, {_V}""",
                    ns,
                    up_id,
                    version.major,
                    version.minor,
                    version.patch,
                    version.creation_time,
                    *numbers,
                )
            assert row is not None
            if downstream is not None:
                down_id = await _op_id(conn, ns, downstream)
                await conn.execute(
                    """INSERT INTO opstore_links (namespace_id, downstream_id, upstream_id, version_id)
                       VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
                    ns,
                    down_id,
                    up_id,
                    row["id"],
                )
        return version_from_row(row)

    async def versions(self, ns: int, op_name: str) -> list[OpVersion]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""SELECT {_V} FROM opstore_versions v JOIN opstore_ops o ON o.namespace_id = v.namespace_id AND o.id = v.op_id
                    WHERE v.namespace_id = $1 AND o.name = $2 ORDER BY v.creation_time, v.id""",
                ns,
                op_name,
            )
        return [version_from_row(r) for r in rows]

    async def validated(self, ns: int, downstream: str, upstream: str) -> list[OpVersion]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""SELECT {_V} FROM opstore_links l
                    JOIN opstore_ops d ON d.namespace_id = l.namespace_id AND d.id = l.downstream_id
                    JOIN opstore_ops u ON u.namespace_id = l.namespace_id AND u.id = l.upstream_id
                    JOIN opstore_versions v ON v.namespace_id = l.namespace_id AND v.id = l.version_id
                    WHERE l.namespace_id = $1 AND d.name = $2 AND u.name = $3 ORDER BY v.creation_time, v.id""",
                ns,
                downstream,
                upstream,
            )
        return [version_from_row(r) for r in rows]

    async def find_version(
        self, ns: int, op_name: str, version: OpVersion
    ) -> tuple[bool, OpVersion | None, Digest | None]:
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                f"""SELECT o.id AS op_id, v.id, {_V}, v.bytes_hash, v.bytes_size FROM opstore_ops o
                    LEFT JOIN opstore_versions v ON v.namespace_id = o.namespace_id AND v.op_id = o.id
                      AND v.major_hash = $3 AND v.minor_hash = $4 AND v.patch_hash = $5
                    WHERE o.namespace_id = $1 AND o.name = $2""",
                ns,
                op_name,
                version.major,
                version.minor,
                version.patch,
            )
        if r is None:
            return False, None, None
        if r["id"] is None:
            return True, None, None
        digest = Digest(r["bytes_hash"], r["bytes_size"]) if r["bytes_hash"] is not None else None
        return True, version_from_row(r), digest

    async def set_bytes(self, ns: int, op_name: str, version: OpVersion, digest: Digest) -> bool:
        async with self._db.connection() as conn:
            status: str = await conn.execute(
                """UPDATE opstore_versions v SET bytes_hash = $6, bytes_size = $7 FROM opstore_ops o
                   WHERE o.namespace_id = $1 AND o.name = $2 AND v.namespace_id = $1 AND v.op_id = o.id
                     AND v.major_hash = $3 AND v.minor_hash = $4 AND v.patch_hash = $5""",
                ns,
                op_name,
                version.major,
                version.minor,
                version.patch,
                digest.hash,
                digest.size,
            )
        return status != "UPDATE 0"

    async def pipeline_exists(self, ns: int, name: str) -> bool:
        async with self._db.connection() as conn:
            found = await conn.fetchval(
                "SELECT true FROM opstore_pipelines WHERE namespace_id = $1 AND name = $2", ns, name
            )
        return bool(found)

    async def register_pipeline(self, ns: int, name: str, last_op: str) -> None:
        async with self._db.transaction() as conn:
            op_id = await _op_id(conn, ns, last_op)
            await conn.execute(
                """INSERT INTO opstore_pipelines (namespace_id, name, last_op_id) VALUES ($1, $2, $3)
                   ON CONFLICT (namespace_id, name) DO UPDATE SET last_op_id = EXCLUDED.last_op_id""",
                ns,
                name,
                op_id,
            )
