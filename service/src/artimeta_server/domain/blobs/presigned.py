"""Presigned transfers: the caller PUTs to or GETs from S3 directly. Uploaded bytes wait at a
staging key until CommitUpload read them back and found them matching their digest."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

from artimeta_server.domain import hashing
from artimeta_server.domain.blobs.models import PendingUpload, PresignedUpload
from artimeta_server.domain.blobs.presence import Presence
from artimeta_server.domain.blobs.rules import CHUNK_BYTES, blob_not_found, check_size, is_uuid, mismatch, url_expiry
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import FailedPrecondition, NotFound
from artimeta_server.domain.namespaces.ports import NamespaceIds
from artimeta_server.domain.reasons import Reason


class PresignedTransfers:
    def __init__(self, presence: Presence, namespaces: NamespaceIds) -> None:
        self._presence = presence
        self._store = presence.store
        self._index = presence.index
        self._ns = namespaces

    async def create_upload_url(self, namespace: str, digest: Digest, expires_in_s: int) -> PresignedUpload:
        expires = url_expiry(expires_in_s)
        check_size(digest)
        ns = await self._ns.resolve(namespace)
        if await self._presence.present(ns, digest):
            return PresignedUpload(True, "", "", None)
        upload_id = str(uuid.uuid4())
        key = self._store.staging_key(ns, upload_id)
        expire_time = datetime.now(UTC) + timedelta(seconds=expires)
        await self._index.start_upload(PendingUpload(ns, upload_id, digest, key, None, expire_time))
        url = await self._store.presign_put(key, expires)
        return PresignedUpload(False, upload_id, url, expire_time)

    async def commit_upload(self, namespace: str, upload_id: str) -> Digest:
        ns = await self._ns.resolve(namespace)
        row = await self._index.get_upload(ns, upload_id) if is_uuid(upload_id) else None
        if row is None or row.s3_upload_id is not None or row.digest is None:
            raise NotFound(
                f"no presigned upload {upload_id!r}", reason=Reason.UPLOAD_NOT_FOUND, metadata={"upload_id": upload_id}
            )
        expected = row.digest
        info = await self._store.stat_object(row.object_key)
        if info is None:
            if await self._presence.present(ns, expected):  # committed by an earlier call
                await self._index.finish_upload(ns, upload_id)
                return expected
            raise FailedPrecondition(
                "nothing was PUT to the upload URL yet",
                reason=Reason.UPLOAD_NOT_STAGED,
                metadata={"upload_id": upload_id},
            )
        hasher = hashlib.sha256()
        total = 0
        if info.size == expected.size:
            async for chunk in self._store.read_range(row.object_key, 0, info.size, CHUNK_BYTES):
                await hashing.update(hasher, chunk)
                total += len(chunk)
        actual = Digest(hasher.hexdigest(), total) if info.size == expected.size else Digest("", info.size)
        if actual != expected:
            # Wrong bytes never become right: the staging data goes, and so does the upload.
            await self._store.delete_objects([row.object_key])
            await self._index.finish_upload(ns, upload_id)
            raise mismatch(expected, actual)
        # Until the blob is indexed the staging object and its row stay (gc reaps them once the
        # lease has expired), so a commit that failed on the way can simply be called again.
        await self._presence.promote(ns, row.object_key, expected)
        await self._index.finish_upload(ns, upload_id)
        return expected

    async def create_download_url(self, namespace: str, digest: Digest, expires_in_s: int) -> tuple[str, datetime]:
        expires = url_expiry(expires_in_s)
        ns = await self._ns.resolve(namespace)
        if await self._store.stat_object(self._store.cas_key(ns, digest)) is None:
            raise blob_not_found(digest)
        url = await self._store.presign_get(self._store.cas_key(ns, digest), expires)
        return url, datetime.now(UTC) + timedelta(seconds=expires)
