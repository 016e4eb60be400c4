"""Streaming uploads: bytes become a blob only once their size and sha256 matched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from artimeta_server.domain.blobs.models import UploadPiece
from artimeta_server.domain.blobs.service import Blobs
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import Aborted, FailedPrecondition, InvalidArgument
from tests.unit.domain.blobs.fakes import NS, NS_ID, PART, FakeBlobIndex, FakeObjectStore


async def stream(*pieces: UploadPiece) -> AsyncIterator[UploadPiece]:
    for p in pieces:
        yield p


def chunks(
    data: bytes, size: int, *, digest_first: Digest | None = None, digest_last: Digest | None = None
) -> list[UploadPiece]:
    out = [UploadPiece(None, data[i : i + size]) for i in range(0, len(data), size)]
    if digest_first is not None:
        out[0] = UploadPiece(digest_first, out[0].data)
    if digest_last is not None:
        out.append(UploadPiece(digest_last, b""))
    return out


@pytest.mark.parametrize("size", [5, PART * 4 + 3], ids=["buffered", "multipart"])
@pytest.mark.parametrize("where", ["first", "last"])
async def test_an_upload_stores_exactly_its_bytes(
    blobs: Blobs, store: FakeObjectStore, index: FakeBlobIndex, size: int, where: str
) -> None:
    data = bytes(range(256))[:size]
    d = Digest.of(data)
    pieces = chunks(data, 7, digest_first=d if where == "first" else None, digest_last=d if where == "last" else None)
    result = await blobs.upload(NS, stream(*pieces))
    assert result.digest == d and not result.already_present
    assert store.cas_keys() == [store.cas_key(NS_ID, d)]
    assert store.objects[store.cas_key(NS_ID, d)] == data
    assert (NS_ID, d) in index.rows
    # Nothing is left in flight: no staging object, no upload row, no open multipart upload.
    assert [k for k in store.objects if "/staging/" in k] == []
    assert index.uploads == {} and store.multipart == {}


async def test_an_upload_of_a_present_blob_sends_nothing_again(blobs: Blobs, store: FakeObjectStore) -> None:
    data = b"already here"
    d = Digest.of(data)
    await blobs.upload(NS, stream(UploadPiece(d, data)))
    again = await blobs.upload(NS, stream(UploadPiece(d, b"")))
    assert again.already_present and again.digest == d
    late = await blobs.upload(NS, stream(UploadPiece(None, data), UploadPiece(d, b"")))
    assert late.already_present


@pytest.mark.parametrize("size", [5, PART * 3], ids=["buffered", "multipart"])
async def test_bytes_that_do_not_match_their_digest_are_never_stored(
    blobs: Blobs, store: FakeObjectStore, index: FakeBlobIndex, size: int
) -> None:
    data = b"x" * size
    wrong = Digest.of(b"y" * size)
    with pytest.raises(FailedPrecondition) as err:
        await blobs.upload(NS, stream(*chunks(data, 4, digest_first=wrong)))
    assert err.value.reason == "DIGEST_MISMATCH"
    assert err.value.metadata == {"expected": str(wrong), "actual": str(Digest.of(data))}
    assert store.cas_keys() == [] and index.rows == {}
    assert index.uploads == {} and store.multipart == {}
    if size > PART:
        assert len(store.aborted) == 1


async def test_more_bytes_than_declared_stop_the_upload_at_once(blobs: Blobs, store: FakeObjectStore) -> None:
    declared = Digest.of(b"abc")
    seen: list[int] = []

    async def endless() -> AsyncIterator[UploadPiece]:
        yield UploadPiece(declared, b"ab")
        for i in range(1000):
            seen.append(i)
            yield UploadPiece(None, b"cd")

    with pytest.raises(FailedPrecondition) as err:
        await blobs.upload(NS, endless())
    assert err.value.reason == "SIZE_MISMATCH"
    assert len(seen) == 1, "refused on the first byte too many"
    assert store.cas_keys() == []


@pytest.mark.parametrize(
    ("pieces", "reason"),
    [
        ((), "DIGEST_REQUIRED"),
        ((UploadPiece(None, b"no digest anywhere"),), "DIGEST_REQUIRED"),
        ((UploadPiece(Digest.of(b"a"), b"a"), UploadPiece(Digest.of(b"b"), b"")), "INVALID_DIGEST"),
        ((UploadPiece(Digest("a" * 64, 6 * 1024**4), b""),), "BLOB_TOO_LARGE"),
    ],
    ids=["empty", "no-digest", "two-digests", "too-large"],
)
async def test_malformed_upload_streams_are_invalid(
    blobs: Blobs, store: FakeObjectStore, pieces: tuple[UploadPiece, ...], reason: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        await blobs.upload(NS, stream(*pieces))
    assert err.value.reason == reason
    assert store.objects == {}


async def test_an_upload_whose_lease_was_reclaimed_is_aborted(blobs: Blobs, index: FakeBlobIndex) -> None:
    blobs.uploads.lease_s = 0.0  # every piece renews the lease
    data = b"z" * (PART * 3)
    d = Digest.of(data)

    async def pieces() -> AsyncIterator[UploadPiece]:
        yield UploadPiece(d, data[:PART])
        yield UploadPiece(None, data[PART : 2 * PART])
        index.uploads.clear()  # gc reclaimed the stalled upload
        yield UploadPiece(None, data[2 * PART :])

    with pytest.raises(Aborted) as err:
        await blobs.upload(NS, pieces())
    assert err.value.reason == "UPLOAD_EXPIRED"


async def test_a_copy_deleted_under_the_writer_every_time_is_aborted(blobs: Blobs, store: FakeObjectStore) -> None:
    """A gc that decided before each copy landed: the upload fails rather than acknowledge a
    blob that is not there."""
    data = b"q" * (PART * 2 + 1)
    d = Digest.of(data)
    store.after_copy = lambda key: store.objects.pop(key)
    with pytest.raises(Aborted) as err:
        await blobs.upload(NS, stream(*chunks(data, PART, digest_last=d)))
    assert err.value.reason == "BLOB_DELETED_DURING_WRITE"
    assert store.cas_keys() == []


async def test_a_copy_deleted_once_is_written_again(blobs: Blobs, store: FakeObjectStore) -> None:
    data = b"r" * (PART * 2 + 1)
    d = Digest.of(data)
    removed: list[str] = []

    def once(key: str) -> None:
        if not removed:
            removed.append(key)
            store.objects.pop(key)

    store.after_copy = once
    result = await blobs.upload(NS, stream(*chunks(data, PART, digest_last=d)))
    assert result.digest == d and removed
    assert store.objects[store.cas_key(NS_ID, d)] == data
