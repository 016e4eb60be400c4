"""The asyncio forms of the blob and record API (`AsyncBlobs`, `AsyncRecords`), and a blob
corrupted at rest caught by both clients' whole-blob downloads."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import artimeta
from artimeta.blobs import AsyncBlobs, Blobs, Digest
from artimeta.records import AsyncRecords
from artimeta_server.server import Server
from tests.api.blobs.test_blobs import BIG, cas_keys, ns_id, run
from tests.api.blobs.test_records import make_tree, snapshot


@pytest.fixture
async def ablobs(blob_target: str, blob_ns: str) -> AsyncIterator[AsyncBlobs]:
    async with artimeta.AsyncClient(blob_target, timeout=30) as client:
        yield AsyncBlobs(client, blob_ns)


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def test_bytes_streams_and_files(ablobs: AsyncBlobs, tmp_path: Path) -> None:
    small, big = os.urandom(3000), os.urandom(BIG)
    assert await ablobs.put_bytes(small) == Digest.of(small)
    assert await ablobs.put_bytes(big) == Digest.of(big)  # streamed, multipart
    assert await ablobs.get_bytes(Digest.of(small)) == small
    assert await ablobs.get_bytes(Digest.of(big)) == big

    async def source() -> AsyncIterator[bytes]:
        for i in range(0, len(big), 777_777):
            yield big[i : i + 777_777] + b"!"

    expected = b"".join(big[i : i + 777_777] + b"!" for i in range(0, len(big), 777_777))
    seen: list[tuple[int, int]] = []
    d = await ablobs.upload_iter(source(), progress=lambda done, total: seen.append((done, total)))
    assert d == Digest.of(expected)  # digest computed on the way, sent last
    assert seen[-1] == (len(expected), -1)
    assert await collect(ablobs.download(d)) == expected
    assert await collect(ablobs.download(d, offset=5, length=100)) == expected[5:105]

    src = tmp_path / "src.bin"
    src.write_bytes(expected[:1_000_001])
    df = await ablobs.upload_file(src)
    assert df == Digest.of(expected[:1_000_001])
    assert await ablobs.upload_stream(io.BytesIO(b"from a stream")) == Digest.of(b"from a stream")
    out = tmp_path / "out.bin"
    await ablobs.download_to_file(df, out)
    assert out.read_bytes() == expected[:1_000_001]
    assert sorted(os.listdir(tmp_path)) == ["out.bin", "src.bin"]  # no temporary file left

    assert await ablobs.find_missing([d, Digest.of(b"never")]) == [Digest.of(b"never")]
    with pytest.raises(artimeta.NotFound):
        await collect(ablobs.download(Digest.of(b"never")))


async def test_keyed_objects_and_batches(ablobs: AsyncBlobs) -> None:
    assert await ablobs.batch_update([b"a", b"b", b"a"]) == [Digest.of(b"a"), Digest.of(b"b"), Digest.of(b"a")]
    assert await ablobs.batch_read([Digest.of(b"b"), Digest.of(b"a")]) == [b"b", b"a"]
    await ablobs.put_object("k/1", b"one")
    await ablobs.put_object("k/1", b"uno")
    await ablobs.put_object("k/2", os.urandom(BIG))
    assert await ablobs.get_object("k/1") == b"uno"
    assert len(await ablobs.get_object("k/2")) == BIG
    assert [e.key async for e in ablobs.list_objects("k/", page_size=1)] == ["k/1", "k/2"]
    assert await ablobs.delete_object("k/1")
    with pytest.raises(artimeta.NotFound) as err:
        await ablobs.get_object("k/1")
    assert err.value.reason == "KEY_NOT_FOUND"


async def test_records_commit_and_retrieve(blob_target: str, blob_ns: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    (src / "large.bin").write_bytes(os.urandom(1_500_000))  # streamed, not batched
    async with artimeta.AsyncClient(blob_target, timeout=30) as client:
        records = AsyncRecords(client, blob_ns)
        first = await records.commit_directory("async0000001", src, metadata={"kind": "Experiment"})
        assert first.created and first.uploaded_files > 0
        again = await records.commit_directory("async0000001", src)
        assert (again.uploaded_files, again.uploaded_bytes) == (0, 0)
        assert await records.contains("async0000001")
        copy = tmp_path / "copy"
        await records.retrieve_directory("async0000001", copy)
        assert snapshot(copy) == snapshot(src)
        assert [r.uuid async for r in records.list(metadata={"kind": "Experiment"})] == ["async0000001"]
        assert await records.delete("async0000001")
        with pytest.raises(artimeta.NotFound):
            await records.get("async0000001")


async def test_bytes_corrupted_at_rest_are_caught_on_download(
    blobs: Blobs, ablobs: AsyncBlobs, blob_server: Server, blob_ns: str
) -> None:
    assert blob_server.domain is not None
    data = os.urandom(BIG)
    digest = await run(blobs.put_bytes, data)
    [key] = await cas_keys(blob_server, blob_ns)
    assert key.startswith(f"{await ns_id(blob_server, blob_ns)}/cas/")
    rotten = bytearray(data)
    rotten[BIG // 2] ^= 0xFF  # one flipped byte, same size: only the digest can tell
    await blob_server.domain.blob_store.put_object(key, bytes(rotten))

    with pytest.raises(artimeta.DataLoss) as err:
        await run(lambda: list(blobs.download(digest)))
    assert err.value.reason == "DIGEST_MISMATCH"
    with pytest.raises(artimeta.DataLoss) as err:
        await collect(ablobs.download(digest))
    assert err.value.reason == "DIGEST_MISMATCH"
    with pytest.raises(artimeta.DataLoss):
        await ablobs.get_bytes(digest)
    # A range cannot be checked against the whole blob's digest: it is served as stored.
    assert await collect(ablobs.download(digest, offset=BIG // 2, length=1)) == bytes([rotten[BIG // 2]])

    await blob_server.domain.blob_store.put_object(key, data[:-1])  # truncated: caught before any byte
    with pytest.raises(artimeta.DataLoss) as err:
        await collect(ablobs.download(digest))
    assert err.value.reason == "BLOB_CORRUPT"
