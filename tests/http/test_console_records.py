"""Records and blobs in the console: a record's files link to their blobs, and a blob downloads
through Connect server streaming in the browser, byte for byte."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import artimeta
from artimeta.v1 import blobs_pb2, blobs_pb2_grpc, digest_pb2, records_pb2, records_pb2_grpc
from tests.conftest import unique_name
from tests.http.conftest import Console

pytest.importorskip("playwright.async_api")


@pytest.fixture
async def console(browser: Any, base_url: str) -> AsyncIterator[Console]:
    context = await browser.new_context(accept_downloads=True)
    c = Console(await context.new_page(), base_url)
    yield c
    await context.close()
    assert not c.foreign, c.foreign
    assert not c.problems, c.problems


async def test_record_files_and_blob_download(console: Console, hclient: artimeta.AsyncClient, tmp_path: Path) -> None:
    ns = unique_name("rec")
    await hclient.create_namespace(ns)
    data = bytes(range(256)) * 1200  # 300 KiB: several Download chunks
    digest = digest_pb2.Digest(hash=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    blobs = hclient.stub(blobs_pb2_grpc.BlobServiceStub)
    await hclient.call(
        blobs.BatchUpdateBlobs,
        blobs_pb2.BatchUpdateBlobsRequest(
            namespace=ns, items=[blobs_pb2.BatchUpdateBlobsRequest.Item(digest=digest, data=data)]
        ),
    )
    records = hclient.stub(records_pb2_grpc.RecordServiceStub)
    uuid = "abc123def456"
    await hclient.call(
        records.CommitRecord,
        records_pb2.CommitRecordRequest(
            namespace=ns,
            uuid=uuid,
            metadata={"kind": "experiment"},
            set_metadata=True,
            entries=[
                records_pb2.RecordEntry(
                    path="out/data.bin", kind=records_pb2.RECORD_ENTRY_KIND_FILE, mode=0o644, digest=digest
                )
            ],
        ),
    )
    await console.open(f"/console/ns/{ns}")
    await console.page.get_by_role("link", name="records", exact=True).click()
    assert await console.settled() == "ready"
    assert await console.page.locator("[data-testid=records] tbody tr").count() == 1
    await console.page.get_by_role("link", name=uuid).click()
    assert await console.settled() == "ready"
    assert "out/data.bin" in await console.page.locator("[data-testid=entries]").inner_text()
    await console.page.locator("[data-testid=entries] a").first.click()
    assert await console.settled() == "ready"
    assert await console.page.locator("[data-testid=blob-hash]").inner_text() == digest.hash
    async with console.page.expect_download() as info:
        await console.page.locator("[data-testid=download]").click()
    download = await info.value
    target = tmp_path / "blob"
    await download.save_as(target)
    assert target.read_bytes() == data
    await console.shot("blob")
    await hclient.delete_namespace(ns, allow_missing=True)
