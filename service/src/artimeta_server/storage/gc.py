"""Garbage collection of blobs, the rules and the SQL behind `artimeta-server gc` (commands/gc.py).

A blob object (`<ns>/cas/…`) is deleted only when all of these hold:
- its S3 object is older than the grace period (so a blob written moments ago, whose referencing
  row is about to be inserted, stays);
- the blob index has not handed it out as present within the grace period (FindMissing, Upload
  of an existing blob and BatchUpdate refresh that time);
- no column registered in storage/blobs/references.py points at it (that includes uploads in flight).
Uploads whose lease expired are aborted first (incomplete multipart uploads, staging objects), so
a crashed upload leaves nothing behind for long. The command also forgets request ids older than
ARTIMETA_REQUEST_ID_RETENTION_S (the server's janitor does it too).

Each batch is decided and deleted inside one transaction that holds the batch's index rows
locked (inserting rows for objects the index does not know) from the re-check until the S3 delete
is done. Every writer that acknowledges a blob first claims its row and looks at the object under
that claim (domain/blobs/presence.py), so it either comes before gc's lock (gc then finds the row fresh and
keeps it) or after gc's commit (the object is gone and the writer writes it again).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from artimeta_server.domain.blobs.rules import TOUCH_AFTER_S
from artimeta_server.domain.digests import Digest
from artimeta_server.storage.blobs.index import references_query, upload_row
from artimeta_server.storage.blobs.keys import cas_prefix, digest_hash_of_key
from artimeta_server.storage.blobs.references import BLOB_REFERENCES
from artimeta_server.storage.blobs.store import S3BlobStore
from artimeta_server.storage.postgres import Database

log = logging.getLogger("artimeta.gc")

DEFAULT_GRACE_S = 24 * 3600.0
# A blob handed out as present keeps a last use no older than TOUCH_AFTER_S, so a grace of at
# least this leaves its holder TOUCH_AFTER_S to write the row that will reference it.
MIN_GRACE_S = 2 * TOUCH_AFTER_S


class UnsafeGrace(ValueError):
    pass


def check_grace(grace_s: float) -> float:
    if not grace_s >= MIN_GRACE_S:
        raise UnsafeGrace(
            f"--grace-seconds must be at least {MIN_GRACE_S:.0f}: blobs are marked in use at most every "
            f"{TOUCH_AFTER_S:.0f} s, so a shorter grace can delete a blob a client was just told exists"
        )
    return grace_s


_BATCH = 1000


@dataclass
class GcReport:
    dry_run: bool
    grace_s: float
    namespaces: int = 0
    blobs_scanned: int = 0
    blobs_deleted: int = 0
    bytes_deleted: int = 0
    kept_young: int = 0
    kept_recently_used: int = 0
    kept_referenced: int = 0
    uploads_aborted: int = 0
    staging_deleted: int = 0
    deleted_namespaces_swept: int = 0
    deleted_namespace_objects: int = 0
    request_ids_forgotten: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


async def collect(
    db: Database,
    store: S3BlobStore,
    *,
    grace_s: float = DEFAULT_GRACE_S,
    dry_run: bool = False,
    namespace: str | None = None,
    now: datetime | None = None,
    page_size: int = _BATCH,
) -> GcReport:
    """Namespaces, uploads and objects are each read a page of `page_size` at a time, so gc's
    memory is bounded whatever their number."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=grace_s)
    report = GcReport(dry_run=dry_run, grace_s=grace_s)
    after = 0
    while True:
        async with db.connection() as conn:
            if namespace is None:
                ids = [
                    r["id"]
                    for r in await conn.fetch(
                        "SELECT id FROM namespaces WHERE id > $1 ORDER BY id LIMIT $2", after, page_size
                    )
                ]
            else:
                ids = [r["id"] for r in await conn.fetch("SELECT id FROM namespaces WHERE name = $1", namespace)]
        for ns in ids:
            report.namespaces += 1
            await _expire_uploads(db, store, ns, now, cutoff, dry_run, report, page_size)
            await _collect_namespace(db, store, ns, cutoff, dry_run, report, page_size)
        if namespace is not None or len(ids) < page_size:
            break
        after = ids[-1]
    if namespace is None:
        await _sweep_deleted_namespaces(db, store, dry_run, report)
    log.info("gc finished", extra=report.as_dict())
    return report


async def _sweep_deleted_namespaces(db: Database, store: S3BlobStore, dry_run: bool, report: GcReport) -> None:
    """Objects and incomplete multipart uploads under the id of a namespace that no longer
    exists: writes in flight while it was deleted land after its purge, and uploads a crash
    left lose their rows with the namespace. Ids are never reused and a namespace's row is
    committed before anything is written under its id, so an id read from S3 that Postgres does
    not know (asked after the listing) is gone for good."""
    ids = await store.namespace_ids()
    uploads = await store.multipart_uploads()
    upload_ids = {int(k.split("/", 1)[0]) for k, _ in uploads if k.split("/", 1)[0].isdigit()}
    async with db.connection() as conn:
        live = {
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM namespaces WHERE id = ANY($1::bigint[])", sorted(set(ids) | upload_ids)
            )
        }
    for ns in sorted(set(ids) - live):
        report.deleted_namespaces_swept += 1
        if not dry_run:
            report.deleted_namespace_objects += await store.delete_namespace(ns)
    for key, upload_id in uploads:
        head = key.split("/", 1)[0]
        if head.isdigit() and int(head) not in live:
            report.uploads_aborted += 1
            if not dry_run:
                await store.abort_multipart(key, upload_id)


async def _expire_uploads(
    db: Database,
    store: S3BlobStore,
    ns: int,
    now: datetime,
    cutoff: datetime,
    dry_run: bool,
    report: GcReport,
    page_size: int,
) -> None:
    after = uuid.UUID(int=0)
    while True:
        async with db.connection() as conn:
            rows = [
                upload_row(r)
                for r in await conn.fetch(
                    """
                    SELECT * FROM blob_uploads WHERE namespace_id = $1 AND expire_time < $2 AND upload_id > $3
                    ORDER BY upload_id LIMIT $4
                    """,
                    ns,
                    now,
                    after,
                    page_size,
                )
            ]
        for row in rows:
            if dry_run:
                report.uploads_aborted += 1
                continue
            async with db.transaction() as conn:
                # Claimed only if its lease is still expired: an upload that renewed it since the
                # page was read keeps going. Its renewal waits on this row lock meanwhile, and a
                # failed abort rolls the claim back for the next run.
                claimed = await conn.fetchval(
                    """
                    DELETE FROM blob_uploads WHERE namespace_id = $1 AND upload_id = $2 AND expire_time < $3
                    RETURNING 1
                    """,
                    ns,
                    uuid.UUID(row.upload_id),
                    now,
                )
                if claimed is None:
                    continue
                report.uploads_aborted += 1
                if row.s3_upload_id is not None:
                    await store.abort_multipart(row.object_key, row.s3_upload_id)
                    if row.digest is None:
                        await store.delete_objects([row.object_key])
                else:
                    await store.delete_objects([row.object_key])
        if len(rows) < page_size:
            break
        after = uuid.UUID(rows[-1].upload_id)
    # Staging objects whose upload row is gone (a crash between the copy and the cleanup).
    async for page in store.iter_prefix(store.staging_key(ns, ""), page_size):
        old = [o for o in page if o.modified is not None and o.modified < cutoff]
        if not old:
            continue
        ids = [o.key.rsplit("/", 1)[-1] for o in old]
        async with db.connection() as conn:
            live = {
                str(r["upload_id"])
                for r in await conn.fetch(
                    "SELECT upload_id FROM blob_uploads WHERE namespace_id = $1 AND upload_id::text = ANY($2::text[])",
                    ns,
                    ids,
                )
            }
        orphans = [o.key for o, i in zip(old, ids, strict=True) if i not in live]
        report.staging_deleted += len(orphans)
        if orphans and not dry_run:
            await store.delete_objects(orphans)


async def _collect_namespace(
    db: Database, store: S3BlobStore, ns: int, cutoff: datetime, dry_run: bool, report: GcReport, page_size: int
) -> None:
    refs_sql = references_query(BLOB_REFERENCES)
    async for objects in store.iter_prefix(cas_prefix(ns), page_size):
        report.blobs_scanned += len(objects)
        batch: list[tuple[Digest, str, datetime]] = []
        for o in objects:
            h = digest_hash_of_key(o.key)
            if h is None:
                continue
            if o.modified is None or o.modified >= cutoff:
                report.kept_young += 1
                continue
            batch.append((Digest(h, o.size), o.key, o.modified))
        if batch:
            await _collect_batch(db, store, ns, batch, cutoff, dry_run, report, refs_sql)


async def _collect_batch(
    db: Database,
    store: S3BlobStore,
    ns: int,
    batch: list[tuple[Digest, str, datetime]],
    cutoff: datetime,
    dry_run: bool,
    report: GcReport,
    refs_sql: str,
) -> None:
    hashes = [d.hash for d, _, _ in batch]
    sizes = [d.size for d, _, _ in batch]
    async with db.transaction() as conn:
        if dry_run:
            rows = await conn.fetch(
                """
                SELECT b.hash, b.size, b.last_used FROM blobs b
                JOIN unnest($2::text[], $3::bigint[]) AS req(hash, size) ON b.hash = req.hash AND b.size = req.size
                WHERE b.namespace_id = $1
                """,
                ns,
                hashes,
                sizes,
            )
        else:
            # Lock every candidate's index row, creating the rows of objects the index does not
            # know (as old as their objects), in the order claims use. A writer claiming one of
            # them now waits for this transaction; one that claimed it first has made it fresh.
            rows = await conn.fetch(
                """
                INSERT INTO blobs (namespace_id, hash, size, create_time, last_used)
                SELECT $1, h, s, m, m FROM unnest($2::text[], $3::bigint[], $4::timestamptz[]) AS t(h, s, m)
                ORDER BY h, s
                ON CONFLICT (namespace_id, hash, size) DO UPDATE SET last_used = blobs.last_used
                RETURNING hash, size, last_used
                """,
                ns,
                hashes,
                sizes,
                [modified for _, _, modified in batch],
            )
        recent = {(r["hash"], r["size"]) for r in rows if r["last_used"] >= cutoff}
        # References are read after the locks: one inserted later comes from a writer that saw
        # the blob present, which (above) it could only do before the lock, through a fresh row.
        referenced = {(r["hash"], r["size"]) for r in await conn.fetch(refs_sql, ns, hashes, sizes)}
        victims = []
        for d, key, _ in batch:
            if (d.hash, d.size) in referenced:
                report.kept_referenced += 1
            elif (d.hash, d.size) in recent:
                report.kept_recently_used += 1
            else:
                victims.append((d, key))
        report.blobs_deleted += len(victims)
        report.bytes_deleted += sum(d.size for d, _ in victims)
        if dry_run or not victims:
            return
        await conn.execute(
            """
            DELETE FROM blobs b USING unnest($2::text[], $3::bigint[]) AS v(hash, size)
            WHERE b.namespace_id = $1 AND b.hash = v.hash AND b.size = v.size
            """,
            ns,
            [d.hash for d, _ in victims],
            [d.size for d, _ in victims],
        )
        # Deleted while the index rows are locked, and committed only after S3 is done; if S3
        # fails, the transaction rolls back and the rows stay (old, so the next run retries).
        await store.delete_objects([key for _, key in victims])
