"""Batches: one outcome per item, a bad item never fails the others."""

from __future__ import annotations

import pytest

from artimeta_server.domain.blobs.service import Blobs
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound
from tests.unit.domain.blobs.fakes import NS, NS_ID, FakeBlobIndex, FakeObjectStore


async def test_batch_update_stores_the_matching_items_only(
    blobs: Blobs, store: FakeObjectStore, index: FakeBlobIndex
) -> None:
    good, other = b"good bytes", b"other bytes"
    results = await blobs.batch_update(
        NS, [(Digest.of(good), good), (Digest.of(b"claimed"), b"claimed!"), (Digest.of(other), other)]
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], FailedPrecondition) and results[1].reason == "SIZE_MISMATCH"
    assert store.cas_keys() == sorted(store.cas_key(NS_ID, Digest.of(b)) for b in (good, other))
    assert set(index.rows) == {(NS_ID, Digest.of(good)), (NS_ID, Digest.of(other))}


async def test_batch_update_of_indexed_blobs_writes_nothing(blobs: Blobs, store: FakeObjectStore) -> None:
    data = b"once"
    await blobs.batch_update(NS, [(Digest.of(data), data)])
    store.objects.clear()  # were it PUT again, it would reappear
    assert await blobs.batch_update(NS, [(Digest.of(data), data)]) == [None]
    assert store.objects == {}


async def test_batches_are_bounded(blobs: Blobs) -> None:
    with pytest.raises(InvalidArgument) as err:
        await blobs.batch_update(NS, [(Digest.of(b""), b"")] * 10_001)
    assert err.value.reason == "BATCH_TOO_LARGE"
    big = blobs.capabilities.max_batch_total_bytes + 1
    with pytest.raises(InvalidArgument):
        await blobs.batch_read(NS, [Digest("a" * 64, big)])


async def test_batch_read_reports_each_item(blobs: Blobs, store: FakeObjectStore) -> None:
    good, rotten = b"good", b"rotten"
    await blobs.batch_update(NS, [(Digest.of(good), good), (Digest.of(rotten), rotten)])
    store.objects[store.cas_key(NS_ID, Digest.of(rotten))] = b"rottEn"
    absent = Digest.of(b"absent")
    wrong_size = Digest(Digest.of(good).hash, 3)
    out = await blobs.batch_read(NS, [Digest.of(good), absent, Digest.of(rotten), wrong_size])
    assert out[0] == good
    assert isinstance(out[1], NotFound) and out[1].reason == "BLOB_NOT_FOUND"
    assert isinstance(out[2], DataLoss) and out[2].reason == "BLOB_CORRUPT"
    assert isinstance(out[3], NotFound) and "holds 4 bytes" in out[3].message


async def test_batch_read_finds_blobs_the_index_does_not_know(blobs: Blobs, store: FakeObjectStore) -> None:
    data = b"written by another service"
    await store.put_object(store.cas_key(NS_ID, Digest.of(data)), data)
    assert await blobs.batch_read(NS, [Digest.of(data)]) == [data]


async def test_batch_read_refuses_a_blob_larger_than_a_batch_by_its_stored_size(
    blobs: Blobs, store: FakeObjectStore
) -> None:
    limit = blobs.capabilities.max_batch_total_bytes
    data = b"b" * (limit + 1)
    await store.put_object(store.cas_key(NS_ID, Digest.of(data)), data)
    # The caller claims a small size; the stored size is what counts.
    out = await blobs.batch_read(NS, [Digest(Digest.of(data).hash, 10)])
    assert isinstance(out[0], InvalidArgument) and out[0].reason == "BLOB_TOO_LARGE_FOR_BATCH"
