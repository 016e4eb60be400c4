"""Metadata documents: small ones live in their row, large ones in the blob store by digest, so
rows stay small and Postgres pages hot while any document size still works."""

from __future__ import annotations

from artimeta_server.domain.blobs.models import StoredDocument
from artimeta_server.domain.blobs.ports import BlobStore
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason


class Documents:
    def __init__(self, blobs: BlobStore, *, inline_limit: int, max_size: int) -> None:
        self._blobs = blobs
        self.inline_limit = inline_limit
        self.max_size = max_size

    async def store(self, namespace_id: int, data: bytes, *, field: str = "document") -> StoredDocument:
        if len(data) > self.max_size:
            raise InvalidArgument(
                f"{field} is {len(data)} bytes; at most {self.max_size} are allowed",
                reason=Reason.DOCUMENT_TOO_LARGE,
                metadata={"field": field, "limit": str(self.max_size)},
            )
        if len(data) <= self.inline_limit:
            return StoredDocument(inline=data, digest=None)
        # The blob is written before the row that will reference it, so no row ever points at
        # missing bytes; an orphan left by a failed transaction is collected by gc.
        digest = await self._blobs.put(namespace_id, data)
        return StoredDocument(inline=None, digest=digest)

    async def load(self, namespace_id: int, stored: StoredDocument) -> bytes:
        if stored.inline is not None:
            return stored.inline
        assert stored.digest is not None
        return await self._blobs.get(namespace_id, stored.digest)

    @staticmethod
    def from_row(inline: bytes | None, digest_hash: str | None, digest_size: int | None) -> StoredDocument:
        if digest_hash is None or digest_size is None:
            return StoredDocument(inline=inline or b"", digest=None)
        return StoredDocument(inline=None, digest=Digest(digest_hash, digest_size))
