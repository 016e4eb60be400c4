"""How PartitionBodies regroups the rows storage streams into reply chunks: whatever sizes the
rows come in (whole chunks, partial ones, bodies in the blob store), the chunks are the greedy
split of the bodies in order, closed at chunk_rows rows or once chunk_bytes is reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest

from artimeta_server.domain.blobs.ports import BlobStore
from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.connection.models import BodyRow
from artimeta_server.domain.connection.partition_bodies import PartitionBodies
from tests.unit.domain.connection.fakes import FakeBlobs


def _greedy(bodies: list[bytes], rows: int, size: int) -> list[list[bytes]]:
    out: list[list[bytes]] = [[]]
    used = 0
    for b in bodies:
        out[-1].append(b)
        used += len(b)
        if used >= size or len(out[-1]) >= rows:
            out.append([])
            used = 0
    return [c for c in out if c]


async def _stream(chunks: list[list[BodyRow]]) -> AsyncIterator[list[BodyRow]]:
    for c in chunks:
        yield c


@pytest.mark.parametrize(
    "sizes",
    [[4, 4, 2], [4, 4, 4], [3, 1, 4], [1, 1, 1, 1, 1], [2, 4, 3], [4]],
)
@pytest.mark.parametrize("byte_budget", [10_000, 9, 5])
async def test_chunks_are_the_greedy_split_of_the_bodies_in_order(sizes: list[int], byte_budget: int) -> None:
    blobs = FakeBlobs()
    docs = Documents(cast(BlobStore, blobs), inline_limit=4, max_size=1 << 20)
    bodies_of = PartitionBodies(docs, chunk_rows=4, chunk_bytes=byte_budget)
    chunks: list[list[BodyRow]] = []
    flat: list[bytes] = []
    n = 0
    for size in sizes:
        rows: list[BodyRow] = []
        for _ in range(size):
            body = b"blob-body-%d" % n if n == 6 else b"p%d" % n  # the seventh in the blob store
            stored = await docs.store(1, body, field="partitions[0]")
            digest = stored.digest
            rows.append((body, None, len(body)) if digest is None else (None, digest.hash, digest.size))
            flat.append(body)
            n += 1
        chunks.append(rows)
    got = [c async for c in bodies_of.chunks(1, _stream(chunks))]
    assert got == _greedy(flat, 4, byte_budget)
