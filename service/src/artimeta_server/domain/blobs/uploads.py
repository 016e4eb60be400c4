"""Streaming uploads: bytes are hashed as they arrive and become a blob only once they matched.

Small blobs are buffered, checked, then PUT; large ones go to an S3 multipart upload that is
completed only once the last byte matched (a mismatch or a crash leaves an incomplete multipart
upload, which S3 never shows and gc aborts). When the digest comes only at the end, the parts go
to a staging key and are copied once verified.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from artimeta_server.domain import hashing
from artimeta_server.domain.blobs.models import PendingUpload, UploadPiece, UploadResult
from artimeta_server.domain.blobs.multipart import Multipart
from artimeta_server.domain.blobs.presence import Presence
from artimeta_server.domain.blobs.rules import MAX_BLOB_BYTES, check_size, mismatch
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import Aborted, InvalidArgument
from artimeta_server.domain.namespaces.ports import NamespaceIds
from artimeta_server.domain.reasons import Reason


class StreamingUploads:
    def __init__(
        self,
        presence: Presence,
        namespaces: NamespaceIds,
        *,
        part_bytes: int,
        lease_s: float,
        slots: int,
        idle_s: float,
    ) -> None:
        self._presence = presence
        self._store = presence.store
        self._index = presence.index
        self._ns = namespaces
        self.part_bytes = part_bytes
        self.lease_s = lease_s
        self._slots = asyncio.Semaphore(slots)
        self._idle_s = idle_s

    def slot(self) -> asyncio.Semaphore:
        """One of the streaming uploads this process receives at once. Taken before a stream's
        first message is read, so a waiting stream holds no bytes of ours (only what gRPC's flow
        control window lets the caller send ahead)."""
        return self._slots

    async def upload(self, namespace: str, pieces: AsyncIterator[UploadPiece]) -> UploadResult:
        """Call within slot(), entered before the stream's first message is read."""
        first = await anext(pieces, None)
        if first is None:
            raise InvalidArgument("the upload stream is empty", reason=Reason.DIGEST_REQUIRED)
        return await self._upload(namespace, first, self._idle_bounded(pieces))

    async def _idle_bounded(self, pieces: AsyncIterator[UploadPiece]) -> AsyncIterator[UploadPiece]:
        while True:
            try:
                piece = await asyncio.wait_for(anext(pieces, None), self._idle_s)
            except TimeoutError:
                raise Aborted(
                    f"no upload message for {self._idle_s:g} s; upload again",
                    reason=Reason.UPLOAD_IDLE,
                    metadata={"idle_seconds": f"{self._idle_s:g}"},
                ) from None
            if piece is None:
                return
            yield piece

    async def _upload(self, namespace: str, first: UploadPiece, pieces: AsyncIterator[UploadPiece]) -> UploadResult:
        ns = await self._ns.resolve(namespace)
        declared = first.digest
        if declared is not None:
            check_size(declared)
            if await self._presence.present(ns, declared):
                return UploadResult(declared, already_present=True)
        expected = declared
        hasher = hashlib.sha256()
        total = 0
        buffer: list[bytes] = []
        buffered = 0
        multipart: Multipart | None = None
        upload_id = ""
        renew_at = 0.0
        part = self.part_bytes
        lease_s = self.lease_s

        async def open_multipart() -> Multipart:
            nonlocal upload_id, renew_at
            upload_id = str(uuid.uuid4())
            # With the digest known, parts go straight to the final key (invisible until
            # completed); otherwise to a staging key, copied once the digest is known and checked.
            key = self._store.cas_key(ns, declared) if declared else self._store.staging_key(ns, upload_id)
            s3_id = await self._store.start_multipart(key)
            lease = datetime.now(UTC) + timedelta(seconds=lease_s)
            await self._index.start_upload(PendingUpload(ns, upload_id, declared, key, s3_id, lease))
            renew_at = time.monotonic() + lease_s / 3
            return Multipart(self._store, key, s3_id)

        async def renew() -> None:
            nonlocal renew_at
            renew_at = time.monotonic() + lease_s / 3
            lease = datetime.now(UTC) + timedelta(seconds=lease_s)
            if not await self._index.renew_upload(ns, upload_id, lease):
                raise Aborted(
                    "the upload stalled past its lease and was reclaimed; upload again",
                    reason=Reason.UPLOAD_EXPIRED,
                    metadata={"upload_id": upload_id},
                )

        async def take(piece: UploadPiece) -> None:
            nonlocal expected, total, buffered, multipart
            if multipart is not None and time.monotonic() >= renew_at:
                await renew()
            if piece.digest is not None:
                if expected is not None and piece.digest != expected:
                    raise InvalidArgument(
                        "the upload names two different digests",
                        reason=Reason.INVALID_DIGEST,
                        metadata={"field": "digest"},
                    )
                check_size(piece.digest)
                expected = piece.digest
            if not piece.data:
                return
            await hashing.update(hasher, piece.data)
            total += len(piece.data)
            if expected is not None and total > expected.size:
                raise mismatch(expected, Digest(hasher.hexdigest(), total))
            if total > MAX_BLOB_BYTES:
                check_size(Digest(hasher.hexdigest(), total))
            buffer.append(piece.data)
            buffered += len(piece.data)
            while buffered >= part:
                # One copy per part: chunks are joined exactly at the part boundary (clients send
                # whole chunks that divide the part size; only a straddling chunk is split).
                take_n, size = 0, 0
                while size < part:
                    size += len(buffer[take_n])
                    take_n += 1
                joined = b"".join(buffer[:take_n])
                del buffer[:take_n]
                if size > part:
                    buffer.insert(0, joined[part:])
                    joined = joined[:part]
                buffered -= part
                if multipart is None:
                    multipart = await open_multipart()
                await multipart.add(joined)
                del joined

        try:
            await take(first)
            async for piece in pieces:
                await take(piece)
            if expected is None:
                raise InvalidArgument(
                    "the upload carried no digest; send it in the first or the last message",
                    reason=Reason.DIGEST_REQUIRED,
                    metadata={"field": "digest"},
                )
            actual = Digest(hasher.hexdigest(), total)
            if actual != expected:
                raise mismatch(expected, actual)
            if multipart is None:
                if declared is None and await self._presence.present(ns, actual):
                    return UploadResult(actual, already_present=True)
                data = b"".join(buffer)
                buffer.clear()

                err = (await self._presence.put_claimed(ns, {actual: data})).get(actual)
                if err is not None:
                    raise err
            else:
                if buffer:
                    await multipart.add(b"".join(buffer))
                    buffer.clear()
                if time.monotonic() >= renew_at:
                    await renew()
                await multipart.complete()
                if declared is None:
                    await self._presence.promote(ns, multipart.key, actual)
                else:
                    await self._presence.write_checked(ns, actual, None)
                await self._index.finish_upload(ns, upload_id)
                multipart = None
            return UploadResult(actual, already_present=False)
        except BaseException:
            if multipart is not None:
                await asyncio.shield(self._abandon(ns, upload_id, multipart))
            raise

    async def _abandon(self, ns: int, upload_id: str, multipart: Multipart) -> None:
        try:
            await multipart.abort()
            await self._index.finish_upload(ns, upload_id)
        except Exception:  # noqa: BLE001 - the row stays and gc aborts the upload later
            pass
