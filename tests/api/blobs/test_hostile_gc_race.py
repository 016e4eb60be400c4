"""gc against uploads of the same bytes: gc is paused inside its S3 delete (index rows locked,
object still there) while the blob is uploaded again; afterwards the blob downloads, or the
upload failed with a retryable status. Never acknowledged and gone."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

import artimeta
from artimeta.blobs import Blobs, Digest, http_put
from artimeta.v1 import blobs_pb2 as pb
from artimeta_server.server import Server
from artimeta_server.storage.blobs.keys import cas_key
from artimeta_server.storage.gc import GcReport, collect
from tests.api.blobs.conftest import TEST_PART_BYTES
from tests.api.blobs.test_blobs import ns_id, run

GRACE_S = 3600.0


async def lock_waiters(server: Server) -> int:
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    return n


async def race_gc(
    server: Server, namespace: str, digest: Digest, upload: Callable[[], Awaitable[Digest]]
) -> tuple[GcReport, Digest | artimeta.ArtimetaError]:
    """Runs gc (everything in the namespace old enough to go) until it is about to delete
    digest's object, runs upload meanwhile until it finished or waits on a lock gc holds, then
    lets gc finish. Returns gc's report and the upload's outcome."""
    assert server.domain is not None
    store = server.domain.blob_store
    key = cas_key(await ns_id(server, namespace), digest)  # type: ignore[arg-type]
    inside, release = asyncio.Event(), asyncio.Event()

    async def pause(op: str, keys: tuple[str, ...]) -> None:
        if op == "delete" and key in keys:
            inside.set()
            await release.wait()

    store.hook = pause
    try:
        later = datetime.now(UTC) + timedelta(seconds=GRACE_S + 600)
        gc = asyncio.create_task(collect(server.domain.db, store, grace_s=GRACE_S, namespace=namespace, now=later))
        await asyncio.wait_for(inside.wait(), 30)

        async def outcome() -> Digest | artimeta.ArtimetaError:
            try:
                return await upload()
            except artimeta.ArtimetaError as exc:
                return exc

        up = asyncio.create_task(outcome())
        for _ in range(300):
            if up.done() or await lock_waiters(server):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the upload neither finished nor waited for gc")
        release.set()
        report = await asyncio.wait_for(gc, 60)
        result = await asyncio.wait_for(up, 60)
    finally:
        release.set()
        store.hook = None
    return report, result


async def assert_downloads_or_failed(
    blobs: Blobs, digest: Digest, data: bytes, result: Digest | artimeta.ArtimetaError
) -> None:
    if isinstance(result, artimeta.ArtimetaError):
        # A failed upload is honest: the client retries it.
        assert isinstance(result, (artimeta.Aborted, artimeta.Unavailable)), result
        return
    assert result == digest
    assert await run(blobs.find_missing, [digest]) == []
    assert b"".join(await run(lambda: list(blobs.download(digest)))) == data


async def test_digest_last_upload_while_gc_deletes_the_indexed_object(
    blobs: Blobs, blob_server: Server, blob_ns: str
) -> None:
    """The staged parts are complete and the final object is there: the old code skipped the
    copy, and indexed the blob right after gc deleted it."""
    data = os.urandom(TEST_PART_BYTES + 4096)
    digest = await run(blobs.put_bytes, data)
    report, result = await race_gc(blob_server, blob_ns, digest, lambda: run(blobs.upload_stream, io.BytesIO(data)))
    assert report.blobs_deleted == 1
    await assert_downloads_or_failed(blobs, digest, data, result)


async def test_small_upload_while_gc_deletes_an_unindexed_object(
    blobs: Blobs, blob_server: Server, blob_ns: str
) -> None:
    """An object another service wrote straight to S3 (no index row) is adopted by the upload
    while gc deletes it."""
    assert blob_server.domain is not None
    data = os.urandom(3000)
    digest = Digest.of(data)
    await blob_server.domain.blob_store.put_object(cas_key(await ns_id(blob_server, blob_ns), digest), data)  # type: ignore[arg-type]
    report, result = await race_gc(blob_server, blob_ns, digest, lambda: run(blobs.upload_stream, io.BytesIO(data)))
    assert report.blobs_deleted == 1
    await assert_downloads_or_failed(blobs, digest, data, result)


async def test_find_missing_while_gc_deletes_an_unindexed_object(
    blobs: Blobs, blob_server: Server, blob_ns: str
) -> None:
    """FindMissing adopting the object must not report present what gc is deleting."""
    assert blob_server.domain is not None
    data = os.urandom(2000)
    digest = Digest.of(data)
    await blob_server.domain.blob_store.put_object(cas_key(await ns_id(blob_server, blob_ns), digest), data)  # type: ignore[arg-type]

    async def ask() -> Digest:
        missing = await run(blobs.find_missing, [digest])
        if missing:
            raise artimeta.Aborted("reported missing", reason="MISSING")  # an honest answer
        return digest

    _, result = await race_gc(blob_server, blob_ns, digest, ask)
    await assert_downloads_or_failed(blobs, digest, data, result)


async def test_gc_keeps_a_blob_a_presigned_upload_is_committing(
    blobs: Blobs, blob_server: Server, blob_ns: str
) -> None:
    """CommitUpload's own window is closed by its upload row, which names the digest and counts
    as a reference: gc keeps the older copy of the blob until the commit is done."""
    assert blob_server.domain is not None
    data = os.urandom(2000)
    digest = Digest.of(data)
    up = await run(
        blobs.client.call,
        blobs._stub.CreateUploadUrl,
        pb.CreateUploadUrlRequest(namespace=blob_ns, digest=digest.to_proto(), expires_in_seconds=3 * 3600),
    )
    await run(http_put, up.url, data)
    assert await run(blobs.put_bytes, data) == digest  # the same bytes, indexed, by another way
    later = datetime.now(UTC) + timedelta(seconds=GRACE_S + 600)
    report = await collect(
        blob_server.domain.db, blob_server.domain.blob_store, grace_s=GRACE_S, namespace=blob_ns, now=later
    )
    assert (report.blobs_deleted, report.kept_referenced) == (0, 1)
    resp = await run(
        blobs.client.call, blobs._stub.CommitUpload, pb.CommitUploadRequest(namespace=blob_ns, upload_id=up.upload_id)
    )
    assert Digest.from_proto(resp.digest) == digest
    assert await run(blobs.get_bytes, digest) == data


async def test_batch_update_while_gc_deletes_an_unindexed_object(
    blobs: Blobs, blob_server: Server, blob_ns: str
) -> None:
    """BatchUpdate re-PUTs what the index does not know; gc must not delete the fresh PUT."""
    assert blob_server.domain is not None
    data = os.urandom(1500)
    digest = Digest.of(data)
    await blob_server.domain.blob_store.put_object(cas_key(await ns_id(blob_server, blob_ns), digest), data)  # type: ignore[arg-type]

    async def batch() -> Digest:
        await run(blobs.batch_update, [data])
        return digest

    _, result = await race_gc(blob_server, blob_ns, digest, batch)
    await assert_downloads_or_failed(blobs, digest, data, result)


async def test_upload_while_delete_blob_is_deleting(blobs: Blobs, blob_server: Server, blob_ns: str) -> None:
    """DeleteBlob paused inside its S3 delete while the same bytes are uploaded again."""
    assert blob_server.domain is not None
    store = blob_server.domain.blob_store
    data = os.urandom(TEST_PART_BYTES + 100)
    digest = await run(blobs.put_bytes, data)
    key = cas_key(await ns_id(blob_server, blob_ns), digest)  # type: ignore[arg-type]
    inside, release = asyncio.Event(), asyncio.Event()

    async def pause(op: str, keys: tuple[str, ...]) -> None:
        if op == "delete" and key in keys:
            inside.set()
            await release.wait()

    store.hook = pause
    try:
        deleting = asyncio.create_task(run(blobs.delete, digest))
        await asyncio.wait_for(inside.wait(), 30)

        async def upload() -> Digest | artimeta.ArtimetaError:
            try:
                return await run(blobs.upload_stream, io.BytesIO(data))
            except artimeta.ArtimetaError as exc:
                return exc

        up = asyncio.create_task(upload())
        for _ in range(300):
            if up.done() or await lock_waiters(blob_server):
                break
            await asyncio.sleep(0.05)
        release.set()
        await asyncio.wait_for(deleting, 60)
        result = await asyncio.wait_for(up, 60)
    finally:
        release.set()
        store.hook = None
    await assert_downloads_or_failed(blobs, digest, data, result)
