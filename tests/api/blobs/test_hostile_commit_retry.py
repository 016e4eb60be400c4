"""A CommitUpload whose copy fails on the way (S3 cut mid-copy) keeps the staged bytes, so the
retry commits them."""

from __future__ import annotations

import os

import artimeta
from artimeta.blobs import Blobs, Digest, http_put
from artimeta.v1 import blobs_pb2 as pb
from artimeta_server.domain.errors import Unavailable
from artimeta_server.domain.reasons import Reason
from artimeta_server.server import Server
from tests.api.blobs.test_blobs import run, uploads_in_flight


async def test_commit_after_a_failed_copy_succeeds(blobs: Blobs, blob_server: Server, blob_ns: str) -> None:
    assert blob_server.domain is not None
    store = blob_server.domain.blob_store
    data = os.urandom(50_000)
    digest = Digest.of(data)
    up = await run(
        blobs.client.call,
        blobs._stub.CreateUploadUrl,
        pb.CreateUploadUrlRequest(namespace=blob_ns, digest=digest.to_proto()),
    )
    await run(http_put, up.url, data)
    failures: list[tuple[str, ...]] = []

    async def cut_once(op: str, keys: tuple[str, ...]) -> None:
        if op == "copy" and not failures:
            failures.append(keys)
            raise Unavailable("the blob store is unreachable", reason=Reason.BLOB_STORE_UNAVAILABLE)

    req = pb.CommitUploadRequest(namespace=blob_ns, upload_id=up.upload_id)
    store.hook = cut_once
    try:
        try:
            resp = await run(blobs.client.call, blobs._stub.CommitUpload, req)
        except artimeta.Unavailable:
            resp = await run(blobs.client.call, blobs._stub.CommitUpload, req)  # the caller's retry
    finally:
        store.hook = None
    assert failures, "the copy was cut"
    assert Digest.from_proto(resp.digest) == digest
    assert await run(blobs.get_bytes, digest) == data
    assert await uploads_in_flight(blob_server, blob_ns) == 0
    staged = await store.list_prefix(store.staging_key(await blob_server.domain.namespaces.resolve(blob_ns), ""))
    assert staged == [], "the staging object goes once the commit succeeded"
