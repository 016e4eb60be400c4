"""The blob store against every real S3 server (SeaweedFS always, MinIO when built)."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator

import pytest

from artimeta_server.devstack.s3 import S3Server
from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, InvalidArgument, NotFound
from artimeta_server.storage.blobs.keys import cas_key
from artimeta_server.storage.blobs.s3 import make_client
from artimeta_server.storage.blobs.store import S3BlobStore
from tests.conftest import unique_name


@pytest.fixture
async def blobs(s3_server: S3Server) -> AsyncIterator[S3BlobStore]:
    client = make_client(
        s3_server.endpoint,
        s3_server.creds.access_key,
        s3_server.creds.secret_key,
        secure=False,
        region=None,
        max_connections=8,
        timeout_s=10,
    )
    store = S3BlobStore(client, unique_name("b"), threads=8)
    await store.ensure_bucket()
    await store.ensure_bucket()  # idempotent
    yield store
    store.close()


async def test_put_get_round_trip_by_content(blobs: S3BlobStore) -> None:
    data = os.urandom(100_000)
    digest = await blobs.put(1, data)
    assert digest == Digest.of(data)
    assert await blobs.get(1, digest) == data
    assert await blobs.exists(1, digest)
    assert not await blobs.exists(2, digest), "namespaces do not share blobs"


async def test_put_if_absent_keeps_one_copy(blobs: S3BlobStore) -> None:
    data = b"same bytes"
    digests = await asyncio.gather(*(blobs.put(7, data) for _ in range(10)))
    assert len(set(digests)) == 1
    assert await blobs.delete_namespace(7) == 1


async def test_empty_blob(blobs: S3BlobStore) -> None:
    digest = await blobs.put(3, b"")
    assert digest.size == 0
    assert await blobs.get(3, digest) == b""


async def test_missing_blob_is_not_found(blobs: S3BlobStore) -> None:
    with pytest.raises(NotFound):
        await blobs.get(1, Digest.of(b"never stored"))


async def test_reads_are_verified(blobs: S3BlobStore) -> None:
    digest = await blobs.put(4, b"original")
    # Something outside the service overwrites the object: the read must refuse it.
    blobs._client.put_object(blobs.bucket, cas_key(4, digest), io.BytesIO(b"tampered"), 8)
    with pytest.raises(DataLoss):
        await blobs.get(4, digest)


async def test_delete_namespace_removes_only_its_prefix(blobs: S3BlobStore) -> None:
    for i in range(25):
        await blobs.put(10, f"blob {i}".encode())
    kept = await blobs.put(11, b"other namespace")
    assert await blobs.delete_namespace(10) == 25
    assert await blobs.delete_namespace(10) == 0
    assert await blobs.get(11, kept) == b"other namespace"


async def test_documents_go_to_the_blob_store_above_the_threshold(blobs: S3BlobStore) -> None:
    docs = Documents(blobs, inline_limit=1024, max_size=10_000)
    small = await docs.store(5, b"x" * 1024)
    assert small.inline == b"x" * 1024 and small.digest is None
    large_bytes = os.urandom(5000)
    large = await docs.store(5, large_bytes)
    assert large.inline is None and large.digest == Digest.of(large_bytes)
    assert await blobs.exists(5, large.digest)
    assert await docs.load(5, large) == large_bytes
    with pytest.raises(InvalidArgument) as err:
        await docs.store(5, b"y" * 10_001)
    assert err.value.reason == "DOCUMENT_TOO_LARGE"
