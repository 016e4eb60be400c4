"""Partition bodies in and out of storage: a body over the inline limit goes to the blob store
and its row keeps the digest; reads load such bodies back and regroup them into chunks bounded
by rows and bytes, whatever size the rows come in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from artimeta_server.domain.blobs.models import StoredDocument
from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.connection.models import BodyRow, PartitionBatch, StoredPartitions
from artimeta_server.domain.digests import Digest

# Rows per streamed chunk, and a byte budget that closes a chunk early for large partitions.
CHUNK_ROWS = 5_000
CHUNK_BYTES = 2 * 1024 * 1024


class PartitionBodies:
    def __init__(self, documents: Documents, *, chunk_rows: int = CHUNK_ROWS, chunk_bytes: int = CHUNK_BYTES) -> None:
        self._docs = documents
        self.chunk_rows = chunk_rows
        self.chunk_bytes = chunk_bytes

    async def _store(self, ns: int, batch: PartitionBatch) -> StoredPartitions:
        limit = self._docs.inline_limit
        inline: list[bytes | None] = list(batch.bodies)
        hashes: list[str | None] = [None] * len(batch)
        sizes = list(map(len, batch.bodies))
        if max(sizes, default=0) <= limit:  # the usual case: every body stays inline
            return StoredPartitions(batch.idents, batch.keys, batch.input_fingerprints, inline, hashes, sizes)
        for i, size in enumerate(sizes):
            if size > limit:
                stored = await self._docs.store(ns, batch.bodies[i], field=f"partitions[{i}]")
                if stored.digest is not None:
                    inline[i] = None
                    hashes[i] = stored.digest.hash
        return StoredPartitions(batch.idents, batch.keys, batch.input_fingerprints, inline, hashes, sizes)

    async def stored(self, ns: int, batches: Iterable[PartitionBatch]) -> AsyncIterator[StoredPartitions]:
        """The batches as rows will keep them, one at a time."""
        # Batches are computed (validated, canonicalized: CPU work) in a worker thread, so the event
        # loop keeps serving other calls and keeps feeding Postgres the previous chunk meanwhile.
        chunks = iter(batches)
        while (batch := await asyncio.to_thread(next, chunks, None)) is not None:
            if len(batch):
                yield await self._store(ns, batch)

    async def load(self, ns: int, row: BodyRow) -> bytes:
        body, body_hash, body_size = row
        if body is not None:
            return body
        assert body_hash is not None
        return await self._docs.load(ns, StoredDocument(None, Digest(body_hash, body_size)))

    async def chunks(self, ns: int, rows: AsyncIterator[list[BodyRow]]) -> AsyncIterator[list[bytes]]:
        """The bodies of `rows`, in chunks of at most chunk_rows rows, closed early at chunk_bytes."""
        out: list[bytes] = []
        size = 0
        async for chunk in rows:
            for row in chunk:
                body = row[0] if row[0] is not None else await self.load(ns, row)
                out.append(body)
                size += len(body)
                if size >= self.chunk_bytes or len(out) >= self.chunk_rows:
                    yield out
                    out, size = [], 0
        if out:
            yield out
