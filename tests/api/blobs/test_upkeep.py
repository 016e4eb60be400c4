"""What keeps the byte service honest over time: streamed bytes counted in /metrics, gc reading
the store a page at a time, and the lease of a long upload renewed while its bytes keep coming."""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

import artimeta
from artimeta.blobs import Blobs, Digest
from artimeta.errors import from_rpc_error
from artimeta.v1 import blobs_pb2 as pb
from artimeta_server import metrics
from artimeta_server.domain.blobs.models import ObjectInfo
from artimeta_server.server import Server
from artimeta_server.storage.gc import collect
from tests.api.blobs.conftest import TEST_PART_BYTES
from tests.api.blobs.test_blobs import cas_keys, ns_id, run, uploads_in_flight

MIB = 1024 * 1024


def blob_bytes(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "artimeta_blob_bytes_total":
                out[sample.labels["direction"]] = sample.value
    return out


async def test_streamed_bytes_are_counted_in_metrics(blobs: Blobs) -> None:
    httpd, port = metrics.serve("127.0.0.1:0")
    try:
        before = blob_bytes(port)
        big = os.urandom(2 * TEST_PART_BYTES + 4321)  # a multipart upload of three parts
        small = os.urandom(70_000)  # one PUT at the end of the stream
        d_big = await run(blobs.upload_iter, iter([big]))
        d_small = await run(blobs.upload_iter, iter([small]), digest=Digest.of(small))
        assert b"".join(await run(lambda: list(blobs.download(d_big)))) == big
        assert b"".join(await run(lambda: list(blobs.download(d_small, offset=10, length=1000)))) == small[10:1010]
        after = blob_bytes(port)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert (d_big, d_small) == (Digest.of(big), Digest.of(small))
    # A digest-last multipart upload is staged, then copied inside S3: its bytes cross once.
    assert after["in"] - before.get("in", 0.0) == len(big) + len(small)
    assert after["out"] - before.get("out", 0.0) == len(big) + 1000


async def test_gc_reads_the_store_a_page_at_a_time(
    blobs: Blobs, blob_server: Server, blob_ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert blob_server.domain is not None
    db, store = blob_server.domain.db, blob_server.domain.blob_store
    ns = await ns_id(blob_server, blob_ns)
    loose = [await run(blobs.put_bytes, f"loose {i}".encode()) for i in range(5)]
    keep = await run(blobs.put_object, "kept", b"a key points here")
    async with db.connection() as conn:
        for _ in range(3):  # presigned uploads abandoned long ago, nothing ever PUT
            up = uuid.uuid4()
            await conn.execute(
                "INSERT INTO blob_uploads (namespace_id, upload_id, hash, size, object_key, expire_time) "
                "VALUES ($1, $2, $3, 1, $4, now() - interval '1 hour')",
                ns,
                up,
                "ab" * 32,
                store.staging_key(ns, str(up)),
            )
    pages: list[int] = []
    real_page = store.list_page

    async def spy(prefix: str, after: str, limit: int) -> list[ObjectInfo]:
        page = await real_page(prefix, after, limit)
        pages.append(len(page))
        return page

    monkeypatch.setattr(store, "list_page", spy)
    await asyncio.sleep(1.1)  # S3 modification times have one-second resolution
    report = await collect(db, store, grace_s=0, namespace=blob_ns, page_size=2)
    assert (report.blobs_scanned, report.blobs_deleted, report.kept_referenced) == (6, 5, 1)
    assert report.uploads_aborted == 3
    assert max(pages) == 2 and sum(pages) == 6
    assert await uploads_in_flight(blob_server, blob_ns) == 0
    assert await cas_keys(blob_server, blob_ns) == [store.cas_key(ns, keep)]  # type: ignore[arg-type]
    assert await run(blobs.find_missing, loose) == loose


def streamed_upload(stub: Any, requests: Iterator[pb.UploadRequest]) -> pb.UploadResponse:
    try:
        resp: pb.UploadResponse = stub.Upload(requests, timeout=60)
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None
    return resp


def _slow_upload(namespace: str, data: bytes, pause_s: float, trickle: bool) -> Iterator[pb.UploadRequest]:
    """One part's worth of bytes, then a pause (a trickle of tiny messages, or silence), then the rest."""
    digest = Digest.of(data)
    yield pb.UploadRequest(namespace=namespace, digest=digest.to_proto())
    head = TEST_PART_BYTES
    for i in range(0, head, MIB):
        yield pb.UploadRequest(data=data[i : i + MIB])
    end = time.monotonic() + pause_s
    sent = head
    while time.monotonic() < end:
        time.sleep(0.1)
        if trickle:
            yield pb.UploadRequest(data=data[sent : sent + 1])
            sent += 1
    for i in range(sent, len(data), MIB):
        yield pb.UploadRequest(data=data[i : min(i + MIB, len(data))])


@pytest.mark.parametrize("trickle", [True, False], ids=["streaming", "stalled"])
async def test_gc_keeps_a_long_upload_whose_lease_is_renewed(
    blobs: Blobs, blob_server: Server, blob_ns: str, trickle: bool
) -> None:
    assert blob_server.domain is not None
    uploads = blob_server.domain.blobs.uploads
    data = os.urandom(2 * TEST_PART_BYTES + 99)
    stub: Any = blobs._stub
    uploads.lease_s = 1.5
    try:
        upload = asyncio.ensure_future(run(streamed_upload, stub, _slow_upload(blob_ns, data, 3.0, trickle)))
        await asyncio.sleep(2.4)  # the first lease has lapsed; a renewed one has not
        report = await collect(blob_server.domain.db, blob_server.domain.blob_store, grace_s=0, namespace=blob_ns)
        if trickle:
            assert report.uploads_aborted == 0
            resp = await upload
            assert Digest.from_proto(resp.digest) == Digest.of(data)
            assert b"".join(await run(lambda: list(blobs.download(Digest.of(data))))) == data
        else:
            assert report.uploads_aborted == 1
            with pytest.raises(artimeta.Aborted) as err:
                await upload
            assert err.value.reason == "UPLOAD_EXPIRED"
            assert await run(blobs.find_missing, [Digest.of(data)]) == [Digest.of(data)]
            # The retried upload goes through.
            assert await run(blobs.upload_iter, iter([data])) == Digest.of(data)
    finally:
        uploads.lease_s = 6 * 3600.0
    assert await uploads_in_flight(blob_server, blob_ns) == 0
