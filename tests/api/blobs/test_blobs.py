"""BlobService through gRPC, against every S3 server (SeaweedFS always, MinIO when built)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

import artimeta
from artimeta.blobs import Blobs, Digest, ItemError, http_get, http_put
from artimeta.errors import from_rpc_error
from artimeta.v1 import blobs_pb2 as pb
from artimeta.v1 import digest_pb2
from artimeta_server.server import Server
from artimeta_server.storage.blobs.keys import cas_prefix
from tests.api.blobs.conftest import TEST_PART_BYTES

T = TypeVar("T")
BIG = 2 * TEST_PART_BYTES + 12345  # three multipart parts


async def run(fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """The blocking client in a thread, so the in-process server keeps serving."""
    return await asyncio.to_thread(fn, *args, **kw)


def raw_upload(stub: Any, requests: list[pb.UploadRequest]) -> pb.UploadResponse:
    try:
        resp: pb.UploadResponse = stub.Upload(iter(requests), timeout=30)
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None
    return resp


async def ns_id(server: Server, name: str) -> int:
    assert server.domain is not None
    return await server.domain.namespaces.resolve(name)


async def cas_keys(server: Server, name: str) -> list[str]:
    assert server.domain is not None
    return [o.key for o in await server.domain.blob_store.list_prefix(cas_prefix(await ns_id(server, name)))]


async def uploads_in_flight(server: Server, name: str) -> int:
    assert server.domain is not None
    async with server.domain.db.connection() as conn:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM blob_uploads WHERE namespace_id = $1", await ns_id(server, name)
        )
    return n


async def test_capabilities(blobs: Blobs) -> None:
    caps = await run(blobs.capabilities)
    assert caps.chunk_size_bytes == min(4 * 1024 * 1024, caps.max_message_bytes // 2)
    assert 0 < caps.max_batch_total_bytes < caps.max_message_bytes
    assert caps.presigned_urls


@pytest.mark.parametrize("digest_first", [True, False], ids=["digest-first", "digest-last"])
async def test_streamed_round_trip_multipart(blobs: Blobs, tmp_path: Path, digest_first: bool) -> None:
    data = os.urandom(BIG)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    seen: list[tuple[int, int]] = []
    if digest_first:
        digest = await run(blobs.upload_file, src, progress=lambda done, total: seen.append((done, total)))
    else:
        with open(src, "rb") as f:
            digest = await run(blobs.upload_stream, f, progress=lambda d, t: seen.append((d, t)))
    assert digest == Digest(hashlib.sha256(data).hexdigest(), len(data))
    assert seen[-1][0] == len(data) and all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    out = tmp_path / "out.bin"
    await run(blobs.download_to_file, digest, out)
    assert out.read_bytes() == data
    assert await run(blobs.find_missing, [digest]) == []


async def test_ranged_download(blobs: Blobs) -> None:
    data = os.urandom(3 * 1024 * 1024 + 5)
    digest = await run(blobs.put_bytes, data)

    def part(offset: int, length: int) -> bytes:
        return b"".join(blobs.download(digest, offset=offset, length=length))

    assert await run(part, 0, 10) == data[:10]
    assert await run(part, 1024 * 1024 - 3, 2 * 1024 * 1024) == data[1024 * 1024 - 3 : 3 * 1024 * 1024 - 3]
    assert await run(part, len(data) - 7, 0) == data[-7:]
    assert await run(part, len(data) - 7, 100) == data[-7:]
    assert await run(part, len(data), 0) == b""
    with pytest.raises(artimeta.InvalidArgument) as err:
        await run(part, len(data) + 1, 0)
    assert err.value.reason == "INVALID_RANGE"


async def test_small_and_empty_blobs(blobs: Blobs) -> None:
    for data in (b"", b"x", os.urandom(70_000)):
        digest = await run(blobs.upload_iter, iter([data]))
        assert digest == Digest.of(data)
        assert await run(blobs.get_bytes, digest) == data
        assert b"".join(await run(lambda d=digest: list(blobs.download(d)))) == data


@pytest.mark.parametrize("size", [1000, BIG], ids=["single-put", "multipart"])
@pytest.mark.parametrize("declared", [True, False], ids=["digest-first", "digest-last"])
async def test_corrupted_upload_leaves_nothing(
    blobs: Blobs, blob_server: Server, blob_ns: str, size: int, declared: bool
) -> None:
    data = os.urandom(size)
    lie = Digest(hashlib.sha256(b"something else").hexdigest(), size)
    stub = blobs._stub

    def upload() -> None:
        def reqs() -> Iterator[pb.UploadRequest]:
            yield pb.UploadRequest(namespace=blob_ns, digest=lie.to_proto() if declared else None)
            for i in range(0, size, 1024 * 1024):
                yield pb.UploadRequest(data=data[i : i + 1024 * 1024])
            if not declared:
                yield pb.UploadRequest(digest=lie.to_proto())

        raw_upload(stub, list(reqs()))

    with pytest.raises(artimeta.FailedPrecondition) as err:
        await run(upload)
    assert err.value.reason == "DIGEST_MISMATCH"
    assert await run(blobs.find_missing, [lie, Digest.of(data)]) == [lie, Digest.of(data)]
    assert await cas_keys(blob_server, blob_ns) == []
    assert await uploads_in_flight(blob_server, blob_ns) == 0
    with pytest.raises(artimeta.NotFound):
        await run(lambda: list(blobs.download(lie)))


async def test_size_mismatch_is_refused(blobs: Blobs, blob_server: Server, blob_ns: str) -> None:
    data = os.urandom(BIG)
    short = Digest(hashlib.sha256(data).hexdigest(), len(data) - 1)
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await run(blobs.upload_iter, iter([data]), digest=short)
    assert err.value.reason == "SIZE_MISMATCH"
    long = Digest(hashlib.sha256(data).hexdigest(), len(data) + 1)
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await run(blobs.upload_iter, iter([data]), digest=long)
    assert err.value.reason == "SIZE_MISMATCH"
    assert await cas_keys(blob_server, blob_ns) == []
    assert await uploads_in_flight(blob_server, blob_ns) == 0


async def test_uploading_an_existing_blob_completes_at_once(blobs: Blobs) -> None:
    # Larger than the server's fixed 8 MiB stream window by far: a server that waited for the
    # whole stream could not answer before the client had produced every chunk.
    data = os.urandom(24 * 1024 * 1024)
    digest = await run(blobs.put_bytes, data)
    sent = {"chunks": 0}

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 1024 * 1024):
            sent["chunks"] += 1
            yield data[i : i + 1024 * 1024]

    def upload() -> pb.UploadResponse:
        def reqs() -> Iterator[pb.UploadRequest]:
            first = True
            for c in chunks():
                yield pb.UploadRequest(
                    namespace=blobs.namespace if first else "", digest=digest.to_proto() if first else None, data=c
                )
                first = False

        return blobs._stub.Upload(reqs(), timeout=30)

    resp = await run(upload)
    assert resp.already_present
    assert sent["chunks"] < 24, "the server answered before the whole blob was streamed"


async def test_concurrent_uploads_of_one_blob(blobs: Blobs) -> None:
    data = os.urandom(BIG)
    results = await asyncio.gather(*(run(blobs.upload_iter, iter([data])) for _ in range(3)))
    assert set(results) == {Digest.of(data)}
    assert await run(blobs.get_bytes, Digest.of(data)) == data


async def test_batches_report_per_item_status(blobs: Blobs) -> None:
    items = [os.urandom(100) for _ in range(50)]
    digests = await run(blobs.batch_update, items)
    assert await run(blobs.batch_read, digests) == items
    good, bad = b"good", b"bad"
    req = pb.BatchUpdateBlobsRequest(
        namespace=blobs.namespace,
        items=[
            pb.BatchUpdateBlobsRequest.Item(digest=Digest.of(good).to_proto(), data=good),
            pb.BatchUpdateBlobsRequest.Item(digest=Digest.of(b"other").to_proto(), data=bad),
            pb.BatchUpdateBlobsRequest.Item(digest=digest_pb2.Digest(hash="zz", size_bytes=1), data=bad),
        ],
    )
    resp = await run(blobs.client.call, blobs._stub.BatchUpdateBlobs, req)
    assert [r.status.code for r in resp.results] == [
        0,
        grpc.StatusCode.FAILED_PRECONDITION.value[0],
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
    ]
    assert await run(blobs.find_missing, [Digest.of(good), Digest.of(bad)]) == [Digest.of(bad)]
    with pytest.raises(ItemError) as err:
        await run(blobs.batch_read, [Digest.of(good), Digest.of(b"never stored")])
    assert err.value.index == 1 and err.value.reason == "BLOB_NOT_FOUND"


async def test_batch_limits(blobs: Blobs) -> None:
    caps = await run(blobs.capabilities)
    req = pb.BatchReadBlobsRequest(
        namespace=blobs.namespace, digests=[Digest("a" * 64, caps.max_batch_total_bytes + 1).to_proto()]
    )
    with pytest.raises(artimeta.InvalidArgument) as err:
        await run(blobs.client.call, blobs._stub.BatchReadBlobs, req)
    assert err.value.reason == "BATCH_TOO_LARGE"


async def test_bad_input_gets_clear_reasons(blobs: Blobs, blob_target: str) -> None:
    stub = blobs._stub
    bad = digest_pb2.Digest(hash="ABC", size_bytes=3)
    with pytest.raises(artimeta.InvalidArgument) as err:
        await run(blobs.client.call, stub.StatBlob, pb.StatBlobRequest(namespace=blobs.namespace, digest=bad))
    assert err.value.reason == "INVALID_DIGEST"
    with pytest.raises(artimeta.NotFound) as err:
        await run(Blobs(blobs.client, "no-such-namespace").put_bytes, b"x")
    assert err.value.reason == "NAMESPACE_NOT_FOUND"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await run(raw_upload, stub, [pb.UploadRequest(data=b"x")])
    assert err.value.reason == "NAMESPACE_REQUIRED"
    with pytest.raises(artimeta.InvalidArgument) as err:
        await run(raw_upload, stub, [pb.UploadRequest(namespace=blobs.namespace, data=b"x")])
    assert err.value.reason == "DIGEST_REQUIRED"
    with pytest.raises(artimeta.NotFound) as err3:
        await run(blobs.stat, Digest.of(b"absent"))
    assert err3.value.reason == "BLOB_NOT_FOUND"


async def test_keyed_objects_overwrite_and_share_bytes(blobs: Blobs, blob_server: Server, blob_ns: str) -> None:
    await run(blobs.put_object, "a/one", b"v1")
    await run(blobs.put_object, "a/two", b"v1")
    await run(blobs.put_object, "b/three", b"v2")
    assert await run(blobs.get_object, "a/one") == b"v1"
    await run(blobs.put_object, "a/one", b"v3")
    assert await run(blobs.get_object, "a/one") == b"v3"
    assert [e.key for e in await run(lambda: list(blobs.list_objects("a/")))] == ["a/one", "a/two"]
    assert [e.key for e in await run(lambda: list(blobs.list_objects(page_size=1)))] == ["a/one", "a/two", "b/three"]
    assert len(await cas_keys(blob_server, blob_ns)) == 3, "v1 is stored once for two keys"
    big = os.urandom(BIG)
    await run(blobs.put_object, "big", big)
    assert await run(blobs.get_object, "big") == big
    assert await run(blobs.delete_object, "a/two")
    with pytest.raises(artimeta.NotFound) as err:
        await run(blobs.get_object, "a/two")
    assert err.value.reason == "KEY_NOT_FOUND"
    assert not await run(blobs.delete_object, "a/two", allow_missing=True)
    with pytest.raises(artimeta.FailedPrecondition) as err2:
        await run(blobs.set_key, "c", Digest.of(b"never uploaded"))
    assert err2.value.reason == "BLOB_NOT_FOUND"
    for key, reason in (("", "INVALID_KEY"), ("x" * 1025, "INVALID_KEY"), ("nul\x00", "INVALID_CHARACTER")):
        with pytest.raises(artimeta.InvalidArgument) as err3:
            await run(blobs.put_object, key, b"v")
        assert err3.value.reason == reason


async def test_delete_refuses_referenced_blobs(blobs: Blobs) -> None:
    digest = await run(blobs.put_object, "k", b"kept")
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await run(blobs.delete, digest)
    assert err.value.reason == "BLOB_REFERENCED"
    loose = await run(blobs.put_bytes, b"loose")
    assert await run(blobs.delete, loose)
    assert await run(blobs.find_missing, [loose]) == [loose]
    assert not await run(blobs.delete, loose)
    assert await run(blobs.delete, digest, force=True)


async def test_presigned_upload_commits_only_verified_bytes(blobs: Blobs, blob_server: Server, blob_ns: str) -> None:
    data = os.urandom(200_000)
    digest = await run(blobs.upload_via_url, data)
    assert await run(blobs.get_bytes, digest) == data
    assert await run(http_get, await run(blobs.download_url, digest)) == data
    # A PUT of other bytes than announced is refused at commit and leaves nothing.
    other = os.urandom(1000)
    want = Digest.of(os.urandom(1000))
    up = await run(
        blobs.client.call,
        blobs._stub.CreateUploadUrl,
        pb.CreateUploadUrlRequest(namespace=blob_ns, digest=want.to_proto()),
    )
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await run(
            blobs.client.call,
            blobs._stub.CommitUpload,
            pb.CommitUploadRequest(namespace=blob_ns, upload_id=up.upload_id),
        )
    assert err.value.reason == "UPLOAD_NOT_STAGED"
    await run(http_put, up.url, other)
    with pytest.raises(artimeta.FailedPrecondition) as err:
        await run(
            blobs.client.call,
            blobs._stub.CommitUpload,
            pb.CommitUploadRequest(namespace=blob_ns, upload_id=up.upload_id),
        )
    assert err.value.reason == "DIGEST_MISMATCH"
    assert await run(blobs.find_missing, [want]) == [want]
    assert sorted(await cas_keys(blob_server, blob_ns)) == sorted(
        [f"{await ns_id(blob_server, blob_ns)}/cas/{digest.hash[:2]}/{digest.hash[2:]}"]
    )
    assert await uploads_in_flight(blob_server, blob_ns) == 0
    with pytest.raises(artimeta.NotFound) as err2:
        await run(
            blobs.client.call,
            blobs._stub.CommitUpload,
            pb.CommitUploadRequest(namespace=blob_ns, upload_id=up.upload_id),
        )
    assert err2.value.reason == "UPLOAD_NOT_FOUND"


async def test_blobs_written_server_side_are_readable(blobs: Blobs, blob_server: Server, blob_ns: str) -> None:
    """Other services (cache values, op bytes) write through S3BlobStore.put: same keys."""
    assert blob_server.domain is not None
    data = os.urandom(5000)
    d = await blob_server.domain.blob_store.put(await ns_id(blob_server, blob_ns), data)
    digest = Digest(d.hash, d.size)
    assert await run(blobs.find_missing, [digest]) == []
    assert await run(blobs.get_bytes, digest) == data
    assert b"".join(await run(lambda: list(blobs.download(digest)))) == data
    resp = await run(blobs.upload_iter, iter([data]), digest=digest)
    assert resp == digest


async def test_direct_transfers_through_presigned_urls(blobs: Blobs, tmp_path: Path) -> None:
    data = os.urandom(6 * 1024 * 1024 + 1)
    src = tmp_path / "direct.bin"
    src.write_bytes(data)
    digest = await run(blobs.upload_file_direct, src)
    assert digest == Digest.of(data)
    assert b"".join(await run(lambda: list(blobs.download_direct(digest)))) == data
    assert b"".join(await run(lambda: list(blobs.download(digest, verify=False)))) == data
    assert await run(blobs.upload_file_direct, src) == digest  # already present: nothing sent
