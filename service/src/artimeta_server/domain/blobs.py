"""BlobService use cases: verified streaming uploads, ranged downloads, batches, presigned
transfers and keyed objects, over the S3 object store and the Postgres blob index.

A blob is visible exactly when its object exists under `<ns>/cas/…`. Bytes reach that key only
after their size and sha256 were checked: small blobs are buffered, checked, then PUT; large ones
go to an S3 multipart upload that is completed only once the last byte matched (a mismatch or a
crash leaves an incomplete multipart upload, which S3 never shows and gc aborts). When the digest
comes only at the end, the parts go to a staging key and are copied once verified.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from artimeta_server.domain import hashing, validation
from artimeta_server.domain.blob_ports import BlobIndex, KeyEntry, ObjectStore, UploadRow
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import (
    Aborted,
    DataLoss,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from artimeta_server.domain.fanout import bounded_map
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.pagination import decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason

CHUNK_BYTES = 4 * 1024 * 1024
# Memory per upload is about (PARTS_IN_FLIGHT + 1) parts, whatever the blob's size.
PART_BYTES = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 3
MAX_BLOB_BYTES = 5 * 1024**4  # S3's largest object
MAX_BATCH_ITEMS = 10_000
MAX_FIND_MISSING = 100_000
MAX_KEY_CHARS = 1024
# A blob used within this window is not touched again; gc's grace must be longer than this.
TOUCH_AFTER_S = 300.0
# gc leaves a streaming multipart upload alone until its lease expires; the lease is renewed
# while bytes keep arriving (after a third of it has passed), so only a stalled upload lapses.
UPLOAD_LEASE_S = 6 * 3600.0
# How often a write is repeated when the object it wrote was deleted under it (a gc or DeleteBlob
# that decided before the write landed) before the call fails with ABORTED.
WRITE_ATTEMPTS = 3
# Streaming uploads of one process receiving bytes at once; more wait for a slot, holding only
# their first message. A stream silent for upload_idle_s gives its slot back (ABORTED).
UPLOAD_SLOTS = 4
UPLOAD_IDLE_S = 300.0
# Object-store calls in the air for FindMissing and batches, across all requests of a process.
STORE_FANOUT = 8
DEFAULT_URL_EXPIRY_S = 900
MAX_URL_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class UploadPiece:
    digest: Digest | None
    data: bytes


@dataclass(frozen=True, slots=True)
class UploadResult:
    digest: Digest
    already_present: bool


@dataclass(frozen=True, slots=True)
class Capabilities:
    max_message_bytes: int
    chunk_size_bytes: int
    max_batch_items: int
    max_batch_total_bytes: int
    max_blob_bytes: int
    max_find_missing_items: int
    presigned_urls: bool


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    already_present: bool
    upload_id: str
    url: str
    expire_time: datetime | None


@dataclass(frozen=True, slots=True)
class KeyPage:
    entries: list[KeyEntry]
    next_page_token: str


def mismatch(expected: Digest, actual: Digest) -> FailedPrecondition:
    meta = {"expected": str(expected), "actual": str(actual)}
    if expected.size != actual.size:
        return FailedPrecondition(
            f"received {actual.size} bytes, the digest says {expected.size}; nothing was stored",
            reason=Reason.SIZE_MISMATCH,
            metadata=meta,
        )
    return FailedPrecondition(
        f"the bytes hash to {actual.hash}, not {expected.hash}; nothing was stored",
        reason=Reason.DIGEST_MISMATCH,
        metadata=meta,
    )


def blob_not_found(digest: Digest) -> NotFound:
    return NotFound(f"blob {digest} does not exist", reason=Reason.BLOB_NOT_FOUND, metadata={"digest": str(digest)})


def blob_raced(digest: Digest) -> Aborted:
    return Aborted(
        f"blob {digest} was deleted while it was being stored; upload it again",
        reason=Reason.BLOB_DELETED_DURING_WRITE,
        metadata={"digest": str(digest)},
    )


def validate_key(key: str) -> str:
    if not key:
        raise InvalidArgument("key is empty", reason=Reason.INVALID_KEY, metadata={"field": "key"})
    if len(key) > MAX_KEY_CHARS or "\x00" in key:
        raise InvalidArgument(
            f"key must be at most {MAX_KEY_CHARS} characters without NUL",
            reason=Reason.INVALID_KEY,
            metadata={"field": "key"},
        )
    return key


def _expiry(requested: int) -> int:
    if requested < 0 or requested > MAX_URL_EXPIRY_S:
        raise InvalidArgument(
            f"expires_in_seconds must be between 0 and {MAX_URL_EXPIRY_S}",
            reason=Reason.INVALID_EXPIRY,
            metadata={"field": "expires_in_seconds"},
        )
    return requested or DEFAULT_URL_EXPIRY_S


class _Multipart:
    """One S3 multipart upload fed part by part, at most PARTS_IN_FLIGHT parts in the air."""

    def __init__(self, store: ObjectStore, key: str, s3_upload_id: str) -> None:
        self.store = store
        self.key = key
        self.s3_upload_id = s3_upload_id
        self._tasks: list[asyncio.Task[str]] = []

    async def add(self, data: bytes) -> None:
        in_flight = [t for t in self._tasks if not t.done()]
        if len(in_flight) >= PARTS_IN_FLIGHT:
            await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        for t in self._tasks:
            if t.done():
                t.result()  # surface a failed part now rather than at the end
        number = len(self._tasks) + 1
        self._tasks.append(asyncio.ensure_future(self.store.upload_part(self.key, self.s3_upload_id, number, data)))

    async def complete(self) -> None:
        etags = list(await asyncio.gather(*self._tasks))
        await self.store.complete_multipart(self.key, self.s3_upload_id, etags)

    async def abort(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.store.abort_multipart(self.key, self.s3_upload_id)


class Blobs:
    def __init__(
        self,
        store: ObjectStore,
        index: BlobIndex,
        namespaces: Namespaces,
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
        self._part = part_bytes
        self.upload_lease_s = upload_lease_s
        self._upload_slots = asyncio.Semaphore(upload_slots)
        self._upload_idle_s = upload_idle_s
        self._fanout_width = store_fanout
        self._fanout = asyncio.Semaphore(store_fanout)
        # Headroom for framing and per-item fields in batch messages.
        batch_bytes = max(1024, max_message_bytes - 64 * 1024 - 0)
        self.capabilities = Capabilities(
            max_message_bytes=max_message_bytes,
            chunk_size_bytes=min(CHUNK_BYTES, max_message_bytes // 2),
            max_batch_items=MAX_BATCH_ITEMS,
            max_batch_total_bytes=batch_bytes,
            max_blob_bytes=MAX_BLOB_BYTES,
            max_find_missing_items=MAX_FIND_MISSING,
            presigned_urls=True,
        )

    # -- presence ---------------------------------------------------------------------------

    async def missing_in(self, namespace_id: int, digests: list[Digest]) -> list[Digest]:
        """The absent digests, in order, without duplicates. The index answers first; a digest it
        does not know is looked up in S3 (blobs other services wrote directly) and adopted."""
        unique = list(dict.fromkeys(digests))
        found = await self._index.present(namespace_id, unique, touch_after_s=TOUCH_AFTER_S)
        unknown = [d for d in unique if d not in found]
        if not unknown:
            return []
        have = await self._adopt(namespace_id, unknown)
        return [d for d in unknown if d not in have]

    async def _exist(self, namespace_id: int, digests: list[Digest]) -> list[Digest]:
        infos = await bounded_map(
            lambda d: self._store.stat_key(self._store.cas_key(namespace_id, d)),
            digests,
            self._fanout,
            width=self._fanout_width,
        )
        present = []
        for d, info in zip(digests, infos, strict=True):
            if isinstance(info, BaseException):
                raise info
            if info is not None and info.size == d.size:
                present.append(d)
        return present

    async def _vouch(self, namespace_id: int, digests: list[Digest]) -> set[Digest]:
        """The digests whose objects exist, looked at while their index rows are claimed. A gc or
        DeleteBlob holds those rows from its decision until its S3 delete is done, so what is seen
        here is after any delete already decided, and the refreshed rows keep every later gc
        away for its grace period: an object vouched for here can be acknowledged."""
        if not digests:
            return set()
        async with self._index.claim(namespace_id, digests) as claim:
            present = set(await self._exist(namespace_id, digests))
            await claim.drop([d for d in digests if d not in present])
        return present

    async def _adopt(self, namespace_id: int, digests: list[Digest]) -> set[Digest]:
        """The digests whose objects exist although the index may not say so, vouched for. Asked
        of S3 first, so the common answer (absent) writes nothing to the index."""
        seen = await self._exist(namespace_id, digests)
        return await self._vouch(namespace_id, seen) if seen else set()

    async def _put_claimed(self, namespace_id: int, items: dict[Digest, bytes]) -> dict[Digest, BaseException]:
        """PUTs small objects while their index rows are claimed: a delete decided earlier has
        finished before the PUTs, none can start before the claim commits, and the rows become
        visible only with the bytes in place. Returns the failed PUTs (their rows are dropped)."""
        if not items:
            return {}
        digests = list(items)
        async with self._index.claim(namespace_id, digests) as claim:
            outcomes = await bounded_map(
                lambda d: self._store.put_key(self._store.cas_key(namespace_id, d), items[d]),
                digests,
                self._fanout,
                width=self._fanout_width,
            )
            failed = {d: o for d, o in zip(digests, outcomes, strict=True) if isinstance(o, BaseException)}
            await claim.drop(list(failed))
        return failed

    async def _write_checked(
        self, namespace_id: int, digest: Digest, write: Callable[[], Awaitable[None]] | None
    ) -> None:
        """Indexes an object just written (or, with write None, one that must exist): it is
        vouched for, and written again when a delete decided before the write removed it."""
        for _ in range(WRITE_ATTEMPTS):
            if digest in await self._vouch(namespace_id, [digest]):
                return
            if write is None:
                break
            await write()
        raise blob_raced(digest)

    async def _present(self, namespace_id: int, digest: Digest) -> bool:
        return not await self.missing_in(namespace_id, [digest])

    async def find_missing(self, namespace: str, digests: list[Digest]) -> list[Digest]:
        if len(digests) > MAX_FIND_MISSING:
            raise InvalidArgument(
                f"{len(digests)} digests; at most {MAX_FIND_MISSING} per call",
                reason=Reason.BATCH_TOO_LARGE,
                metadata={"limit": str(MAX_FIND_MISSING)},
            )
        ns = await self._ns.resolve(namespace)
        return await self.missing_in(ns, digests)

    async def stat(self, namespace: str, digest: Digest) -> datetime | None:
        ns = await self._ns.resolve(namespace)
        if not await self._present(ns, digest):
            raise blob_not_found(digest)
        return await self._index.create_time(ns, digest)

    # -- streaming ----------------------------------------------------------------------------

    async def upload(self, namespace: str, pieces: AsyncIterator[UploadPiece]) -> UploadResult:
        """Call within upload_slot(), entered before the stream's first message is read."""
        first = await anext(pieces, None)
        if first is None:
            raise InvalidArgument("the upload stream is empty", reason=Reason.DIGEST_REQUIRED)
        return await self._upload(namespace, first, self._idle_bounded(pieces))

    def upload_slot(self) -> asyncio.Semaphore:
        """One of the streaming uploads this process receives at once. Taken before a stream's
        first message is read, so a waiting stream holds no bytes of ours (only what gRPC's flow
        control window lets the caller send ahead)."""
        return self._upload_slots

    async def _idle_bounded(self, pieces: AsyncIterator[UploadPiece]) -> AsyncIterator[UploadPiece]:
        while True:
            try:
                piece = await asyncio.wait_for(anext(pieces, None), self._upload_idle_s)
            except TimeoutError:
                raise Aborted(
                    f"no upload message for {self._upload_idle_s:g} s; upload again",
                    reason=Reason.UPLOAD_IDLE,
                    metadata={"idle_seconds": f"{self._upload_idle_s:g}"},
                ) from None
            if piece is None:
                return
            yield piece

    async def _upload(self, namespace: str, first: UploadPiece, pieces: AsyncIterator[UploadPiece]) -> UploadResult:
        ns = await self._ns.resolve(namespace)
        declared = first.digest
        if declared is not None:
            self._check_size(declared)
            if await self._present(ns, declared):
                return UploadResult(declared, already_present=True)
        expected = declared
        hasher = hashlib.sha256()
        total = 0
        buffer: list[bytes] = []
        buffered = 0
        multipart: _Multipart | None = None
        upload_id = ""
        renew_at = 0.0

        async def open_multipart() -> _Multipart:
            nonlocal upload_id, renew_at
            upload_id = str(uuid.uuid4())
            # With the digest known, parts go straight to the final key (invisible until
            # completed); otherwise to a staging key, copied once the digest is known and checked.
            key = self._store.cas_key(ns, declared) if declared else self._store.staging_key(ns, upload_id)
            s3_id = await self._store.start_multipart(key)
            lease = datetime.now(UTC) + timedelta(seconds=self.upload_lease_s)
            await self._index.start_upload(UploadRow(ns, upload_id, declared, key, s3_id, lease))
            renew_at = time.monotonic() + self.upload_lease_s / 3
            return _Multipart(self._store, key, s3_id)

        async def renew() -> None:
            nonlocal renew_at
            renew_at = time.monotonic() + self.upload_lease_s / 3
            lease = datetime.now(UTC) + timedelta(seconds=self.upload_lease_s)
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
                self._check_size(piece.digest)
                expected = piece.digest
            if not piece.data:
                return
            await hashing.update(hasher, piece.data)
            total += len(piece.data)
            if expected is not None and total > expected.size:
                raise mismatch(expected, Digest(hasher.hexdigest(), total))
            if total > MAX_BLOB_BYTES:
                self._check_size(Digest(hasher.hexdigest(), total))
            buffer.append(piece.data)
            buffered += len(piece.data)
            while buffered >= self._part:
                # One copy per part: chunks are joined exactly at the part boundary (clients send
                # whole chunks that divide the part size; only a straddling chunk is split).
                take_n, size = 0, 0
                while size < self._part:
                    size += len(buffer[take_n])
                    take_n += 1
                joined = b"".join(buffer[:take_n])
                del buffer[:take_n]
                if size > self._part:
                    buffer.insert(0, joined[self._part :])
                    joined = joined[: self._part]
                buffered -= self._part
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
            final = self._store.cas_key(ns, actual)
            if multipart is None:
                if declared is None and await self._present(ns, actual):
                    return UploadResult(actual, already_present=True)
                data = b"".join(buffer)
                buffer.clear()

                err = (await self._put_claimed(ns, {actual: data})).get(actual)
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
                    staged = multipart.key
                    if actual not in await self._adopt(ns, [actual]):

                        async def copy() -> None:
                            await self._store.copy_key(staged, final, actual.size)

                        await copy()
                        await self._write_checked(ns, actual, copy)
                    await self._store.delete_keys([staged])
                else:
                    await self._write_checked(ns, actual, None)
                await self._index.finish_upload(ns, upload_id)
                multipart = None
            return UploadResult(actual, already_present=False)
        except BaseException:
            if multipart is not None:
                await asyncio.shield(self._abandon(ns, upload_id, multipart))
            raise

    async def _abandon(self, ns: int, upload_id: str, multipart: _Multipart) -> None:
        try:
            await multipart.abort()
            await self._index.finish_upload(ns, upload_id)
        except Exception:  # noqa: BLE001 - the row stays and gc aborts the upload later
            pass

    @staticmethod
    def _check_size(digest: Digest) -> None:
        if digest.size > MAX_BLOB_BYTES:
            raise InvalidArgument(
                f"blobs are at most {MAX_BLOB_BYTES} bytes", reason=Reason.BLOB_TOO_LARGE, metadata={"field": "digest"}
            )

    async def download(self, namespace: str, digest: Digest, offset: int, length: int) -> AsyncIterator[bytes]:
        """Checks everything before the first byte, so errors are statuses, not broken streams."""
        ns = await self._ns.resolve(namespace)
        info = await self._store.stat_key(self._store.cas_key(ns, digest))
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

    def _check_batch(self, count: int, total: int) -> None:
        cap = self.capabilities
        if count > cap.max_batch_items or total > cap.max_batch_total_bytes:
            raise InvalidArgument(
                f"a batch holds at most {cap.max_batch_items} items and {cap.max_batch_total_bytes} bytes",
                reason=Reason.BATCH_TOO_LARGE,
                metadata={"max_items": str(cap.max_batch_items), "max_bytes": str(cap.max_batch_total_bytes)},
            )

    async def batch_update(self, namespace: str, items: list[tuple[Digest, bytes]]) -> list[DomainError | None]:
        self._check_batch(len(items), sum(len(d) for _, d in items))
        ns = await self._ns.resolve(namespace)
        results: list[DomainError | None] = [None] * len(items)
        valid: dict[Digest, bytes] = {}
        for i, (digest, data) in enumerate(items):
            actual = await hashing.digest_of(data)
            if actual != digest:
                results[i] = mismatch(digest, actual)
            else:
                valid.setdefault(digest, data)
        if valid:
            # Only the index is asked: re-PUTting identical bytes over an object the index does
            # not know is harmless and cheaper than a HEAD per item.
            known = await self._index.present(ns, list(valid), touch_after_s=TOUCH_AFTER_S)
            todo = [d for d in valid if d not in known]

            failed = await self._put_claimed(ns, {d: valid[d] for d in todo})
            for i, (digest, _) in enumerate(items):
                err = failed.get(digest)
                if results[i] is None and err is not None:
                    results[i] = err if isinstance(err, DomainError) else DomainError(str(err), reason=Reason.INTERNAL)
        return results

    async def batch_read(self, namespace: str, digests: list[Digest]) -> list[bytes | DomainError]:
        self._check_batch(len(digests), sum(d.size for d in digests))
        ns = await self._ns.resolve(namespace)
        limit = self.capabilities.max_batch_total_bytes
        # The declared sizes are the caller's word: what is read is bounded by the stored sizes
        # (index first, S3 for blobs it does not know), checked before any byte is read.
        hashes = list(dict.fromkeys(d.hash for d in digests))
        stored = await self._index.sizes(ns, hashes)
        unknown = [h for h in hashes if h not in stored]
        infos = await bounded_map(
            lambda h: self._store.stat_key(self._store.cas_key(ns, Digest(h, 0))),
            unknown,
            self._fanout,
            width=self._fanout_width,
        )
        for h, info in zip(unknown, infos, strict=True):
            if isinstance(info, BaseException):
                raise info
            if info is not None:
                stored[h] = info.size

        async def read(d: Digest) -> bytes | DomainError:
            size = stored.get(d.hash)
            if size is None:
                return blob_not_found(d)
            if size > limit:
                return InvalidArgument(
                    f"blob {d.hash} holds {size} bytes, more than a batch carries ({limit}); use Download",
                    reason=Reason.BLOB_TOO_LARGE_FOR_BATCH,
                    metadata={"digest": str(d), "size": str(size), "limit": str(limit)},
                )
            if size != d.size:
                return NotFound(
                    f"blob {d} does not exist (a blob with that hash holds {size} bytes)",
                    reason=Reason.BLOB_NOT_FOUND,
                    metadata={"digest": str(d)},
                )
            try:
                chunks = [c async for c in self._store.read_range(self._store.cas_key(ns, d), 0, d.size, d.size)]
            except NotFound:
                return blob_not_found(d)
            except DomainError as exc:
                return exc
            data = b"".join(chunks)
            if await hashing.digest_of(data) != d:
                return DataLoss(f"blob {d} does not match its digest", reason=Reason.BLOB_CORRUPT)
            return data

        outcomes = await bounded_map(read, digests, self._fanout, width=self._fanout_width)
        for out in outcomes:
            if isinstance(out, BaseException) and not isinstance(out, DomainError):
                raise out
        return outcomes  # type: ignore[return-value] # read() returns DomainErrors, raises nothing else

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
            existed = await self._store.stat_key(key) is not None
            if existed:
                await self._store.delete_keys([key])
            await claim.drop([digest])
        return existed

    # -- presigned ----------------------------------------------------------------------------

    async def create_upload_url(self, namespace: str, digest: Digest, expires_in_s: int) -> PresignedUpload:
        expires = _expiry(expires_in_s)
        self._check_size(digest)
        ns = await self._ns.resolve(namespace)
        if await self._present(ns, digest):
            return PresignedUpload(True, "", "", None)
        upload_id = str(uuid.uuid4())
        key = self._store.staging_key(ns, upload_id)
        expire_time = datetime.now(UTC) + timedelta(seconds=expires)
        await self._index.start_upload(UploadRow(ns, upload_id, digest, key, None, expire_time))
        url = await self._store.presign_put(key, expires)
        return PresignedUpload(False, upload_id, url, expire_time)

    async def commit_upload(self, namespace: str, upload_id: str) -> Digest:
        ns = await self._ns.resolve(namespace)
        row = await self._index.get_upload(ns, upload_id) if _is_uuid(upload_id) else None
        if row is None or row.s3_upload_id is not None or row.digest is None:
            raise NotFound(
                f"no presigned upload {upload_id!r}", reason=Reason.UPLOAD_NOT_FOUND, metadata={"upload_id": upload_id}
            )
        expected = row.digest
        info = await self._store.stat_key(row.object_key)
        if info is None:
            if await self._present(ns, expected):  # committed by an earlier call
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
            await self._store.delete_keys([row.object_key])
            await self._index.finish_upload(ns, upload_id)
            raise mismatch(expected, actual)
        # Until the blob is indexed the staging object and its row stay (gc reaps them once the
        # lease has expired), so a commit that failed on the way can simply be called again.
        if expected not in await self._adopt(ns, [expected]):
            final = self._store.cas_key(ns, expected)

            async def copy() -> None:
                await self._store.copy_key(row.object_key, final, expected.size)

            await copy()
            await self._write_checked(ns, expected, copy)
        await self._store.delete_keys([row.object_key])
        await self._index.finish_upload(ns, upload_id)
        return expected

    async def create_download_url(self, namespace: str, digest: Digest, expires_in_s: int) -> tuple[str, datetime]:
        expires = _expiry(expires_in_s)
        ns = await self._ns.resolve(namespace)
        if await self._store.stat_key(self._store.cas_key(ns, digest)) is None:
            raise blob_not_found(digest)
        url = await self._store.presign_get(self._store.cas_key(ns, digest), expires)
        return url, datetime.now(UTC) + timedelta(seconds=expires)

    # -- keyed objects --------------------------------------------------------------------------

    async def put_key(self, namespace: str, key: str, digest: Digest) -> tuple[KeyEntry, Digest | None]:
        validate_key(key)
        ns = await self._ns.resolve(namespace)
        if not await self._present(ns, digest):
            raise FailedPrecondition(
                f"blob {digest} does not exist; upload it first",
                reason=Reason.BLOB_NOT_FOUND,
                metadata={"digest": str(digest)},
            )
        return await self._index.put_key(ns, key, digest)

    async def get_key(self, namespace: str, key: str, *, include_data: bool) -> tuple[KeyEntry, bytes | None]:
        validate_key(key)
        ns = await self._ns.resolve(namespace)
        entry = await self._index.get_key(ns, key)
        if entry is None:
            raise NotFound(f"key {key!r} does not exist", reason=Reason.KEY_NOT_FOUND, metadata={"key": key[:256]})
        data = None
        if include_data and entry.digest.size <= self.capabilities.max_batch_total_bytes:
            try:
                data = await self._store.get_key(self._store.cas_key(ns, entry.digest))
            except NotFound:
                raise DataLoss(
                    f"key {key!r} points at a missing blob",
                    reason=Reason.BLOB_MISSING,
                    metadata={"digest": str(entry.digest)},
                ) from None
            if await hashing.digest_of(data) != entry.digest:
                raise DataLoss(f"blob {entry.digest} does not match its digest", reason=Reason.BLOB_CORRUPT)
        return entry, data

    async def delete_key(self, namespace: str, key: str, *, allow_missing: bool) -> bool:
        validate_key(key)
        ns = await self._ns.resolve(namespace)
        deleted = await self._index.delete_key(ns, key)
        if not deleted and not allow_missing:
            raise NotFound(f"key {key!r} does not exist", reason=Reason.KEY_NOT_FOUND, metadata={"key": key[:256]})
        return deleted

    async def list_keys(self, namespace: str, prefix: str, requested_size: int, token: str) -> KeyPage:
        validation.text(prefix, field="prefix", max_len=MAX_KEY_CHARS)
        size = page_size(requested_size)
        after = decode_token("keys", token, (str,))
        ns = await self._ns.resolve(namespace)
        rows = await self._index.list_keys(ns, prefix, str(after[0]) if after else None, size + 1)
        next_token = encode_token("keys", [rows[size - 1].key]) if len(rows) > size else ""
        return KeyPage(rows[:size], next_token)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
