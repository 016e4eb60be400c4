"""BatchReadBlobs bounds what it reads by the stored size, not the size the caller declares: a
blob larger than a batch, asked for with size 0, is refused before a byte is read."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from artimeta.blobs import Blobs, Digest, ItemError
from artimeta_server import metrics
from artimeta_server.server import Server
from tests.api.blobs.test_blobs import run


def bytes_read_from_s3() -> float:
    return float(metrics.BLOB_BYTES.labels("out")._value.get())


async def test_a_lying_size_reads_nothing(blobs: Blobs, blob_server: Server) -> None:
    caps = await run(blobs.capabilities)
    data = os.urandom(caps.max_batch_total_bytes * 4)
    real = await run(blobs.put_bytes, data)
    small = await run(blobs.put_bytes, b"small and fine")
    before = bytes_read_from_s3()
    tracemalloc.start()
    try:
        with pytest.raises(ItemError) as err:
            await run(blobs.batch_read, [Digest.of(b"small and fine"), Digest(real.hash, 0)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    read = bytes_read_from_s3() - before
    print(f"blob {len(data)} B, batch limit {caps.max_batch_total_bytes} B: read {read:.0f} B, peak {peak} B")
    assert err.value.index == 1
    assert err.value.reason == "BLOB_TOO_LARGE_FOR_BATCH"
    assert err.value.error.code.name == "INVALID_ARGUMENT"
    assert read < 1024, "nothing of the large blob was read"
    assert peak < len(data) // 2
    # A smaller wrong size is a digest that does not exist, not a corrupt blob.
    with pytest.raises(ItemError) as err2:
        await run(blobs.batch_read, [Digest(small.hash, 3)])
    assert err2.value.reason == "BLOB_NOT_FOUND"
    assert await run(blobs.batch_read, [small]) == [b"small and fine"]
