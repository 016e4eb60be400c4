"""BlobService use cases: verified streaming uploads, ranged downloads, batches, presigned
transfers and keyed objects, over the S3 object store and the Postgres blob index.

A blob is visible exactly when its object exists under `<ns>/cas/…`. Bytes reach that key only
after their size and sha256 were checked (see uploads.py and presigned.py); presence.py decides
what counts as there. This class puts the parts together and keeps the calls that need no part.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

from artimeta_server.domain.blobs.batches import Batches
from artimeta_server.domain.blobs.keyed import KeyedObjects
from artimeta_server.domain.blobs.models import (
    Capabilities,
    KeyEntry,
    KeyPage,
    PresignedUpload,
    UploadPiece,
    UploadResult,
)
from artimeta_server.domain.blobs.ports import BlobIndex, ObjectStore
from artimeta_server.domain.blobs.presence import Presence
from artimeta_server.domain.blobs.presigned import PresignedTransfers
from artimeta_server.domain.blobs.rules import (
    CHUNK_BYTES,
    MAX_BATCH_ITEMS,
    MAX_BLOB_BYTES,
    MAX_FIND_MISSING,
    PART_BYTES,
    STORE_FANOUT,
    UPLOAD_IDLE_S,
    UPLOAD_LEASE_S,
    UPLOAD_SLOTS,
    blob_not_found,
)
from artimeta_server.domain.blobs.uploads import StreamingUploads
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, DomainError, FailedPrecondition, InvalidArgument
from artimeta_server.domain.namespaces.ports import NamespaceIds
from artimeta_server.domain.reasons import Reason


class Blobs:
    def __init__(
        self,
        store: ObjectStore,
        index: BlobIndex,
        namespaces: NamespaceIds,
        *,
        max_message_bytes: int,
        part_bytes: int = PART_BYTES,
        upload_lease_s: float = UPLOAD_LEASE_S,
        upload_slots: int = UPLOAD_SLOTS,
        upload_idle_s: float = UPLOAD_IDLE_S,
        store_fanout: int = STORE_FANOUT,
    ) -> None:
        self._store = store
        self._index = index
        self._ns = namespaces
        # Headroom for framing and per-item fields in batch messages.
        batch_bytes = max(1024, max_message_bytes - 64 * 1024)
        self.capabilities = Capabilities(
            max_message_bytes=max_message_bytes,
            chunk_size_bytes=min(CHUNK_BYTES, max_message_bytes // 2),
            max_batch_items=MAX_BATCH_ITEMS,
            max_batch_total_bytes=batch_bytes,
            max_blob_bytes=MAX_BLOB_BYTES,
            max_find_missing_items=MAX_FIND_MISSING,
            presigned_urls=True,
        )
        self._presence = Presence(store, index, fanout=store_fanout)
        self.uploads = StreamingUploads(
            self._presence,
            namespaces,
            part_bytes=part_bytes,
            lease_s=upload_lease_s,
            slots=upload_slots,
            idle_s=upload_idle_s,
        )
        self.batches = Batches(self._presence, namespaces, self.capabilities)
        self.presigned = PresignedTransfers(self._presence, namespaces)
        self.keys = KeyedObjects(self._presence, namespaces, max_inline_bytes=batch_bytes)

    # -- presence ---------------------------------------------------------------------------

    async def missing_in(self, namespace_id: int, digests: list[Digest]) -> list[Digest]:
        """The absent digests, in order, without duplicates (see Presence.missing_in)."""
        return await self._presence.missing_in(namespace_id, digests)

    async def find_missing(self, namespace: str, digests: list[Digest]) -> list[Digest]:
        if len(digests) > MAX_FIND_MISSING:
            raise InvalidArgument(
                f"{len(digests)} digests; at most {MAX_FIND_MISSING} per call",
                reason=Reason.BATCH_TOO_LARGE,
                metadata={"limit": str(MAX_FIND_MISSING)},
            )
        ns = await self._ns.resolve(namespace)
        return await self._presence.missing_in(ns, digests)

    async def stat(self, namespace: str, digest: Digest) -> datetime | None:
        ns = await self._ns.resolve(namespace)
        if not await self._presence.present(ns, digest):
            raise blob_not_found(digest)
        return await self._index.create_time(ns, digest)

    # -- streaming ----------------------------------------------------------------------------

    def upload_slot(self) -> asyncio.Semaphore:
        return self.uploads.slot()

    async def upload(self, namespace: str, pieces: AsyncIterator[UploadPiece]) -> UploadResult:
        """Call within upload_slot(), entered before the stream's first message is read."""
        return await self.uploads.upload(namespace, pieces)

    async def download(self, namespace: str, digest: Digest, offset: int, length: int) -> AsyncIterator[bytes]:
        """Checks everything before the first byte, so errors are statuses, not broken streams."""
        ns = await self._ns.resolve(namespace)
        info = await self._store.stat_object(self._store.cas_key(ns, digest))
        if info is None:
            raise blob_not_found(digest)
        if info.size != digest.size:
            raise DataLoss(
                f"blob {digest} is stored with {info.size} bytes",
                reason=Reason.BLOB_CORRUPT,
                metadata={"digest": str(digest)},
            )
        if offset < 0 or length < 0 or offset > digest.size:
            raise InvalidArgument(
                f"range offset={offset} length={length} is outside a blob of {digest.size} bytes",
                reason=Reason.INVALID_RANGE,
                metadata={"field": "offset"},
            )
        end = digest.size if length == 0 else min(digest.size, offset + length)
        return self._store.read_range(
            self._store.cas_key(ns, digest), offset, end - offset, self.capabilities.chunk_size_bytes
        )

    # -- batches ----------------------------------------------------------------------------

    async def batch_update(self, namespace: str, items: list[tuple[Digest, bytes]]) -> list[DomainError | None]:
        return await self.batches.update(namespace, items)

    async def batch_read(self, namespace: str, digests: list[Digest]) -> list[bytes | DomainError]:
        return await self.batches.read(namespace, digests)

    async def delete(self, namespace: str, digest: Digest, *, force: bool) -> bool:
        ns = await self._ns.resolve(namespace)
        if not force and await self._index.referenced(ns, [digest]):
            raise FailedPrecondition(
                f"blob {digest} is still referenced", reason=Reason.BLOB_REFERENCED, metadata={"digest": str(digest)}
            )
        key = self._store.cas_key(ns, digest)
        # The index row stays claimed until the object is gone, so an upload of the same bytes
        # meanwhile waits, then finds it absent and writes it again.
        async with self._index.claim(ns, [digest]) as claim:
            existed = await self._store.stat_object(key) is not None
            if existed:
                await self._store.delete_objects([key])
            await claim.drop([digest])
        return existed

    # -- presigned ----------------------------------------------------------------------------

    async def create_upload_url(self, namespace: str, digest: Digest, expires_in_s: int) -> PresignedUpload:
        return await self.presigned.create_upload_url(namespace, digest, expires_in_s)

    async def commit_upload(self, namespace: str, upload_id: str) -> Digest:
        return await self.presigned.commit_upload(namespace, upload_id)

    async def create_download_url(self, namespace: str, digest: Digest, expires_in_s: int) -> tuple[str, datetime]:
        return await self.presigned.create_download_url(namespace, digest, expires_in_s)

    # -- keyed objects --------------------------------------------------------------------------

    async def put_key(self, namespace: str, key: str, digest: Digest) -> tuple[KeyEntry, Digest | None]:
        return await self.keys.put(namespace, key, digest)

    async def get_key(self, namespace: str, key: str, *, include_data: bool) -> tuple[KeyEntry, bytes | None]:
        return await self.keys.get(namespace, key, include_data=include_data)

    async def delete_key(self, namespace: str, key: str, *, allow_missing: bool) -> bool:
        return await self.keys.delete(namespace, key, allow_missing=allow_missing)

    async def list_keys(self, namespace: str, prefix: str, requested_size: int, token: str) -> KeyPage:
        return await self.keys.page(namespace, prefix, requested_size, token)
