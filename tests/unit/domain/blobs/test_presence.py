"""Which blobs count as there: the index answers first, S3 has the last word."""

from __future__ import annotations

import pytest

from artimeta_server.domain.blobs.service import Blobs
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import InvalidArgument, NotFound
from tests.unit.domain.blobs.fakes import NS, NS_ID, FakeBlobIndex, FakeObjectStore


async def test_find_missing_answers_in_order_without_duplicates(
    blobs: Blobs, store: FakeObjectStore, index: FakeBlobIndex
) -> None:
    indexed, unindexed, absent = Digest.of(b"indexed"), Digest.of(b"in s3 only"), Digest.of(b"absent")
    await index.add(NS_ID, [indexed])
    await store.put_object(store.cas_key(NS_ID, unindexed), b"in s3 only")
    other = Digest.of(b"other")
    missing = await blobs.find_missing(NS, [absent, indexed, other, unindexed, absent])
    assert missing == [absent, other]
    # The object another writer put straight into S3 is adopted by the index.
    assert (NS_ID, unindexed) in index.rows
    assert (NS_ID, absent) not in index.rows


async def test_an_object_of_another_size_is_not_the_blob(blobs: Blobs, store: FakeObjectStore) -> None:
    d = Digest.of(b"twelve bytes")
    await store.put_object(store.cas_key(NS_ID, d), b"short")
    assert await blobs.find_missing(NS, [d]) == [d]


async def test_find_missing_is_bounded_and_needs_a_namespace(blobs: Blobs) -> None:
    with pytest.raises(InvalidArgument) as err:
        await blobs.find_missing(NS, [Digest.of(b"x")] * 100_001)
    assert err.value.reason == "BATCH_TOO_LARGE"
    with pytest.raises(NotFound) as nf:
        await blobs.find_missing("nobody", [])
    assert nf.value.reason == "NAMESPACE_NOT_FOUND"


async def test_stat_of_an_absent_blob_is_not_found(blobs: Blobs, index: FakeBlobIndex) -> None:
    d = Digest.of(b"there")
    await index.add(NS_ID, [d])
    assert await blobs.stat(NS, d) == index.rows[(NS_ID, d)]
    with pytest.raises(NotFound) as err:
        await blobs.stat(NS, Digest.of(b"gone"))
    assert err.value.reason == "BLOB_NOT_FOUND"


async def test_delete_refuses_referenced_blobs_unless_forced(
    blobs: Blobs, store: FakeObjectStore, index: FakeBlobIndex
) -> None:
    from artimeta_server.domain.errors import FailedPrecondition

    d = Digest.of(b"kept by a record")
    await blobs.batch_update(NS, [(d, b"kept by a record")])
    index.references.add((NS_ID, d))
    with pytest.raises(FailedPrecondition) as err:
        await blobs.delete(NS, d, force=False)
    assert err.value.reason == "BLOB_REFERENCED"
    assert store.cas_keys() == [store.cas_key(NS_ID, d)]
    assert await blobs.delete(NS, d, force=True) is True
    assert store.cas_keys() == []
    assert (NS_ID, d) not in index.rows
    assert await blobs.delete(NS, d, force=True) is False


async def test_download_checks_the_range_and_the_stored_size_before_any_byte(
    blobs: Blobs, store: FakeObjectStore
) -> None:
    from artimeta_server.domain.errors import DataLoss

    data = b"0123456789"
    d = Digest.of(data)
    await blobs.batch_update(NS, [(d, data)])
    assert b"".join([c async for c in await blobs.download(NS, d, 2, 3)]) == b"234"
    assert b"".join([c async for c in await blobs.download(NS, d, 4, 0)]) == b"456789"
    with pytest.raises(InvalidArgument) as err:
        await blobs.download(NS, d, 11, 0)
    assert err.value.reason == "INVALID_RANGE"
    store.objects[store.cas_key(NS_ID, d)] = b"012"
    with pytest.raises(DataLoss) as loss:
        await blobs.download(NS, d, 0, 0)
    assert loss.value.reason == "BLOB_CORRUPT"
    with pytest.raises(NotFound):
        await blobs.download(NS, Digest.of(b"never"), 0, 0)
