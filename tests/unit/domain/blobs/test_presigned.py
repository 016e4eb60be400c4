"""Presigned uploads: staged bytes become a blob only through a commit that read them back."""

from __future__ import annotations

import uuid

import pytest

from artimeta_server.domain.blobs.service import Blobs
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from tests.unit.domain.blobs.fakes import NS, NS_ID, FakeBlobIndex, FakeObjectStore


def staged(store: FakeObjectStore, upload_id: str) -> str:
    return store.staging_key(NS_ID, upload_id)


async def test_a_committed_upload_becomes_the_blob(blobs: Blobs, store: FakeObjectStore, index: FakeBlobIndex) -> None:
    data = b"sent straight to s3"
    d = Digest.of(data)
    up = await blobs.create_upload_url(NS, d, 0)
    assert not up.already_present and up.expire_time is not None
    assert up.url.startswith("https://s3.test/") and "expires=900" in up.url
    assert store.cas_keys() == [], "nothing is visible before the commit"
    store.objects[staged(store, up.upload_id)] = data
    assert await blobs.commit_upload(NS, up.upload_id) == d
    assert store.objects == {store.cas_key(NS_ID, d): data}
    assert index.uploads == {} and (NS_ID, d) in index.rows
    # The upload is done: it cannot be committed twice, and asking again finds the blob.
    with pytest.raises(NotFound):
        await blobs.commit_upload(NS, up.upload_id)
    assert (await blobs.create_upload_url(NS, d, 60)).already_present


async def test_a_commit_of_wrong_bytes_fails_and_ends_the_upload(blobs: Blobs, store: FakeObjectStore) -> None:
    d = Digest.of(b"expected")
    for wrong, reason in [(b"EXPECTED", "DIGEST_MISMATCH"), (b"short", "SIZE_MISMATCH")]:
        up = await blobs.create_upload_url(NS, d, 0)
        store.objects[staged(store, up.upload_id)] = wrong
        with pytest.raises(FailedPrecondition) as err:
            await blobs.commit_upload(NS, up.upload_id)
        assert err.value.reason == reason
        assert store.objects == {}, "the staged bytes are gone"
        with pytest.raises(NotFound) as gone:
            await blobs.commit_upload(NS, up.upload_id)
        assert gone.value.reason == "UPLOAD_NOT_FOUND"


async def test_a_commit_before_the_put_is_refused_and_can_be_retried(blobs: Blobs, store: FakeObjectStore) -> None:
    data = b"late"
    up = await blobs.create_upload_url(NS, Digest.of(data), 0)
    with pytest.raises(FailedPrecondition) as err:
        await blobs.commit_upload(NS, up.upload_id)
    assert err.value.reason == "UPLOAD_NOT_STAGED"
    store.objects[staged(store, up.upload_id)] = data
    assert await blobs.commit_upload(NS, up.upload_id) == Digest.of(data)


async def test_a_commit_that_stopped_after_the_copy_finishes_on_retry(
    blobs: Blobs, store: FakeObjectStore, index: FakeBlobIndex
) -> None:
    data = b"copied, then the commit failed"
    d = Digest.of(data)
    up = await blobs.create_upload_url(NS, d, 0)
    # The first commit copied and indexed the blob, removed the staging object, then failed.
    store.objects[store.cas_key(NS_ID, d)] = data
    await index.add(NS_ID, [d])
    assert await blobs.commit_upload(NS, up.upload_id) == d
    assert index.uploads == {}


@pytest.mark.parametrize("upload_id", ["", "not-a-uuid", str(uuid.uuid4())])
async def test_unknown_uploads_are_not_found(blobs: Blobs, upload_id: str) -> None:
    with pytest.raises(NotFound) as err:
        await blobs.commit_upload(NS, upload_id)
    assert err.value.reason == "UPLOAD_NOT_FOUND"


async def test_url_lifetimes_are_bounded(blobs: Blobs) -> None:
    d = Digest.of(b"x")
    for bad in (-1, 7 * 24 * 3600 + 1):
        with pytest.raises(InvalidArgument) as err:
            await blobs.create_upload_url(NS, d, bad)
        assert err.value.reason == "INVALID_EXPIRY"
    with pytest.raises(NotFound):
        await blobs.create_download_url(NS, d, 60)
    await blobs.batch_update(NS, [(d, b"x")])
    url, _ = await blobs.create_download_url(NS, d, 60)
    assert "get&expires=60" in url
