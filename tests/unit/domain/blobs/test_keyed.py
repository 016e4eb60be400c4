"""Keyed objects: a name that points at a blob that exists."""

from __future__ import annotations

import pytest

from artimeta_server.domain.blobs.service import Blobs
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound
from tests.unit.domain.blobs.fakes import NS, NS_ID, FakeObjectStore


async def stored(blobs: Blobs, data: bytes) -> Digest:
    d = Digest.of(data)
    assert await blobs.batch_update(NS, [(d, data)]) == [None]
    return d


async def test_put_key_needs_the_blob_and_returns_the_previous_digest(blobs: Blobs) -> None:
    with pytest.raises(FailedPrecondition) as err:
        await blobs.put_key(NS, "model/latest", Digest.of(b"not uploaded"))
    assert err.value.reason == "BLOB_NOT_FOUND"
    v1, v2 = await stored(blobs, b"v1"), await stored(blobs, b"v2")
    entry, previous = await blobs.put_key(NS, "model/latest", v1)
    assert (entry.key, entry.digest, previous) == ("model/latest", v1, None)
    entry, previous = await blobs.put_key(NS, "model/latest", v2)
    assert (entry.digest, previous) == (v2, v1)


async def test_get_key_returns_the_bytes_when_asked(blobs: Blobs, store: FakeObjectStore) -> None:
    d = await stored(blobs, b"payload")
    await blobs.put_key(NS, "k", d)
    entry, data = await blobs.get_key(NS, "k", include_data=False)
    assert entry.digest == d and data is None
    assert (await blobs.get_key(NS, "k", include_data=True))[1] == b"payload"
    store.objects[store.cas_key(NS_ID, d)] = b"paylOad"
    with pytest.raises(DataLoss) as err:
        await blobs.get_key(NS, "k", include_data=True)
    assert err.value.reason == "BLOB_CORRUPT"
    del store.objects[store.cas_key(NS_ID, d)]
    with pytest.raises(DataLoss) as missing:
        await blobs.get_key(NS, "k", include_data=True)
    assert missing.value.reason == "BLOB_MISSING"


async def test_delete_key_of_a_missing_key(blobs: Blobs) -> None:
    d = await stored(blobs, b"v")
    await blobs.put_key(NS, "k", d)
    assert await blobs.delete_key(NS, "k", allow_missing=False) is True
    with pytest.raises(NotFound) as err:
        await blobs.get_key(NS, "k", include_data=False)
    assert err.value.reason == "KEY_NOT_FOUND"
    assert await blobs.delete_key(NS, "k", allow_missing=True) is False
    with pytest.raises(NotFound) as again:
        await blobs.delete_key(NS, "k", allow_missing=False)
    assert again.value.reason == "KEY_NOT_FOUND"


@pytest.mark.parametrize("key", ["", "a\x00b", "k" * 1025])
async def test_invalid_keys(blobs: Blobs, key: str) -> None:
    for call in (
        blobs.put_key(NS, key, Digest.of(b"")),
        blobs.get_key(NS, key, include_data=False),
        blobs.delete_key(NS, key, allow_missing=True),
    ):
        with pytest.raises(InvalidArgument) as err:
            await call
        assert err.value.reason == "INVALID_KEY"


async def test_list_keys_pages_through_a_prefix(blobs: Blobs) -> None:
    d = await stored(blobs, b"v")
    for k in ["a/1", "a/2", "a/3", "b/1"]:
        await blobs.put_key(NS, k, d)
    first = await blobs.list_keys(NS, "a/", 2, "")
    assert [e.key for e in first.entries] == ["a/1", "a/2"] and first.next_page_token
    second = await blobs.list_keys(NS, "a/", 2, first.next_page_token)
    assert [e.key for e in second.entries] == ["a/3"] and second.next_page_token == ""
    with pytest.raises(InvalidArgument):
        await blobs.list_keys(NS, "a/", 2, "not a token")
