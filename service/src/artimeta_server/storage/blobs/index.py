"""The blob index, uploads in flight and keyed objects in Postgres (migration 0020)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from asyncpg import Connection
from asyncpg import Record as Row

from artimeta_server.domain.blobs.models import KeyEntry, PendingUpload
from artimeta_server.domain.digests import Digest
from artimeta_server.storage.blobs.references import BLOB_REFERENCES, BlobReference
from artimeta_server.storage.postgres import Database
from artimeta_server.storage.sql import given


def _arrays(digests: list[Digest]) -> tuple[list[str], list[int]]:
    return [d.hash for d in digests], [d.size for d in digests]


def references_query(refs: list[BlobReference]) -> str:
    """SELECT hash, size of the digests in ($2 hashes, $3 sizes) that any registered column of
    namespace $1 points at."""
    parts = [
        f"SELECT r.{ref.hash_column} AS hash, r.{ref.size_column} AS size FROM {ref.table} r "
        f"JOIN req ON r.{ref.hash_column} = req.hash AND r.{ref.size_column} = req.size "
        f"WHERE r.{ref.namespace_column} = $1"
        for ref in refs
    ]
    body = " UNION ".join(parts) if parts else "SELECT NULL::text AS hash, NULL::bigint AS size WHERE false"
    return (
        "WITH req AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS t(hash, size)) "
        f"SELECT DISTINCT hash, size FROM ({body}) refs"
    )


class _Claim:
    """Index rows held locked by one transaction (see PostgresBlobIndex.claim)."""

    def __init__(self, conn: Connection, namespace_id: int) -> None:
        self._conn = conn
        self._ns = namespace_id

    async def drop(self, digests: list[Digest]) -> None:
        if not digests:
            return
        hashes, sizes = _arrays(digests)
        await self._conn.execute(
            """
            DELETE FROM blobs b USING unnest($2::text[], $3::bigint[]) AS d(hash, size)
            WHERE b.namespace_id = $1 AND b.hash = d.hash AND b.size = d.size
            """,
            self._ns,
            hashes,
            sizes,
        )


class PostgresBlobIndex:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._refs_sql = references_query(BLOB_REFERENCES)

    async def present(self, namespace_id: int, digests: list[Digest], *, touch_after_s: float) -> set[Digest]:
        if not digests:
            return set()
        hashes, sizes = _arrays(digests)
        async with self._db.connection() as conn:
            # Stale rows are refreshed (and so locked against a concurrent gc, which then finds
            # them fresh, or which deleted them first and so they are not returned); fresh rows
            # are too young for any gc to take.
            # Locked in the order gc and claims use, so a touch waits for them, never deadlocks.
            touched = await conn.fetch(
                """
                WITH stale AS (
                    SELECT b.hash, b.size FROM blobs b
                    JOIN unnest($2::text[], $3::bigint[]) AS req(hash, size) ON b.hash = req.hash AND b.size = req.size
                    WHERE b.namespace_id = $1 AND b.last_used < now() - make_interval(secs => $4)
                    ORDER BY b.hash, b.size
                    FOR UPDATE OF b
                )
                UPDATE blobs b SET last_used = now() FROM stale
                WHERE b.namespace_id = $1 AND b.hash = stale.hash AND b.size = stale.size
                RETURNING b.hash, b.size
                """,
                namespace_id,
                hashes,
                sizes,
                touch_after_s,
            )
            fresh = await conn.fetch(
                """
                SELECT b.hash, b.size FROM blobs b
                JOIN unnest($2::text[], $3::bigint[]) AS req(hash, size) ON b.hash = req.hash AND b.size = req.size
                WHERE b.namespace_id = $1 AND b.last_used >= now() - make_interval(secs => $4)
                """,
                namespace_id,
                hashes,
                sizes,
                touch_after_s,
            )
        return {Digest(r["hash"], r["size"]) for r in [*touched, *fresh]}

    async def add(self, namespace_id: int, digests: list[Digest]) -> None:
        if not digests:
            return
        hashes, sizes = _arrays(sorted(set(digests), key=lambda d: (d.hash, d.size)))
        async with self._db.connection() as conn:
            # EXCLUDED's column default rather than now(): Citus refuses functions that are not
            # IMMUTABLE in DO UPDATE SET (the default is evaluated once, on the coordinator).
            await conn.execute(
                """
                INSERT INTO blobs (namespace_id, hash, size)
                SELECT $1, h, s FROM unnest($2::text[], $3::bigint[]) AS t(h, s)
                ON CONFLICT (namespace_id, hash, size) DO UPDATE SET last_used = EXCLUDED.last_used
                """,
                namespace_id,
                hashes,
                sizes,
            )

    @asynccontextmanager
    async def claim(self, namespace_id: int, digests: list[Digest]) -> AsyncIterator[_Claim]:
        # Rows are locked in one order (gc locks its batches in the same one), so two claims
        # wait for each other instead of deadlocking. A row gc holds makes this wait until gc
        # committed: its object is then deleted already, and the row inserted here is a new one.
        hashes, sizes = _arrays(sorted(set(digests), key=lambda d: (d.hash, d.size)))
        async with self._db.transaction() as conn:
            # EXCLUDED's default, not now(), for Citus (as in add()).
            await conn.execute(
                """
                INSERT INTO blobs (namespace_id, hash, size)
                SELECT $1, h, s FROM unnest($2::text[], $3::bigint[]) AS t(h, s) ORDER BY h, s
                ON CONFLICT (namespace_id, hash, size) DO UPDATE SET last_used = EXCLUDED.last_used
                """,
                namespace_id,
                hashes,
                sizes,
            )
            yield _Claim(conn, namespace_id)

    async def sizes(self, namespace_id: int, hashes: list[str]) -> dict[str, int]:
        if not hashes:
            return {}
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT hash, max(size) AS size FROM blobs WHERE namespace_id = $1 AND hash = ANY($2::text[]) GROUP BY hash",
                namespace_id,
                hashes,
            )
        return {r["hash"]: r["size"] for r in rows}

    async def remove(self, namespace_id: int, digest: Digest) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                "DELETE FROM blobs WHERE namespace_id = $1 AND hash = $2 AND size = $3",
                namespace_id,
                digest.hash,
                digest.size,
            )

    async def create_time(self, namespace_id: int, digest: Digest) -> datetime | None:
        async with self._db.connection() as conn:
            value: datetime | None = await conn.fetchval(
                "SELECT create_time FROM blobs WHERE namespace_id = $1 AND hash = $2 AND size = $3",
                namespace_id,
                digest.hash,
                digest.size,
            )
        return value

    async def referenced(self, namespace_id: int, digests: list[Digest]) -> set[Digest]:
        if not digests:
            return set()
        hashes, sizes = _arrays(digests)
        async with self._db.connection() as conn:
            rows = await conn.fetch(self._refs_sql, namespace_id, hashes, sizes)
        return {Digest(r["hash"], r["size"]) for r in rows}

    async def start_upload(self, row: PendingUpload) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                """
                INSERT INTO blob_uploads (namespace_id, upload_id, hash, size, object_key, s3_upload_id, expire_time)
                VALUES ($1, $2, $3, $4, $5, $6, $7)
                """,
                row.namespace_id,
                row.upload_id,
                row.digest.hash if row.digest else None,
                row.digest.size if row.digest else None,
                row.object_key,
                row.s3_upload_id,
                row.expire_time,
            )

    async def get_upload(self, namespace_id: int, upload_id: str) -> PendingUpload | None:
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                "SELECT * FROM blob_uploads WHERE namespace_id = $1 AND upload_id = $2", namespace_id, upload_id
            )
        return None if r is None else upload_row(r)

    async def renew_upload(self, namespace_id: int, upload_id: str, expire_time: datetime) -> bool:
        async with self._db.connection() as conn:
            status = await conn.execute(
                "UPDATE blob_uploads SET expire_time = $3 WHERE namespace_id = $1 AND upload_id = $2",
                namespace_id,
                upload_id,
                expire_time,
            )
        return bool(status.endswith(" 1"))

    async def finish_upload(self, namespace_id: int, upload_id: str) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                "DELETE FROM blob_uploads WHERE namespace_id = $1 AND upload_id = $2", namespace_id, upload_id
            )

    async def put_key(self, namespace_id: int, key: str, digest: Digest) -> tuple[KeyEntry, Digest | None]:
        async with self._db.transaction() as conn:
            previous = await conn.fetchrow(
                "SELECT hash, size FROM blob_keys WHERE namespace_id = $1 AND key = $2 FOR UPDATE", namespace_id, key
            )
            r = await conn.fetchrow(
                """
                INSERT INTO blob_keys (namespace_id, key, hash, size) VALUES ($1, $2, $3, $4)
                ON CONFLICT (namespace_id, key)
                DO UPDATE SET hash = EXCLUDED.hash, size = EXCLUDED.size, update_time = EXCLUDED.update_time
                RETURNING key, hash, size, update_time
                """,
                namespace_id,
                key,
                digest.hash,
                digest.size,
            )
        assert r is not None
        prev = Digest(previous["hash"], previous["size"]) if previous is not None else None
        return _key(r), prev

    async def get_key(self, namespace_id: int, key: str) -> KeyEntry | None:
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                "SELECT key, hash, size, update_time FROM blob_keys WHERE namespace_id = $1 AND key = $2",
                namespace_id,
                key,
            )
        return None if r is None else _key(r)

    async def delete_key(self, namespace_id: int, key: str) -> bool:
        async with self._db.connection() as conn:
            status: str = await conn.execute(
                "DELETE FROM blob_keys WHERE namespace_id = $1 AND key = $2", namespace_id, key
            )
        return status.endswith(" 1")

    async def list_keys(self, namespace_id: int, prefix: str, after: str | None, limit: int) -> list[KeyEntry]:
        args: list[object] = [namespace_id, prefix, limit]
        bounds = given(args, ("key > {}", None if after is None else (after,)))
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"""
                SELECT key, hash, size, update_time FROM blob_keys
                WHERE namespace_id = $1 AND starts_with(key, $2){bounds}
                ORDER BY key LIMIT $3
                """,
                *args,
            )
        return [_key(r) for r in rows]


def _key(r: Row) -> KeyEntry:
    return KeyEntry(r["key"], Digest(r["hash"], r["size"]), r["update_time"])


def upload_row(r: Row) -> PendingUpload:
    digest = Digest(r["hash"], r["size"]) if r["hash"] is not None else None
    return PendingUpload(
        r["namespace_id"], str(r["upload_id"]), digest, r["object_key"], r["s3_upload_id"], r["expire_time"]
    )
