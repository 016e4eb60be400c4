"""Content-addressed blobs in any S3 store through the synchronous minio client.

Every call runs in a bounded thread pool so the event loop never blocks. Keys come from keys.py.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.datatypes import Part
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from artimeta_server import metrics, tracing
from artimeta_server.domain import hashing
from artimeta_server.domain.blobs.models import ObjectInfo
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, Unavailable
from artimeta_server.domain.reasons import Reason
from artimeta_server.storage.blobs.keys import cas_key, namespace_prefix, staging_key
from artimeta_server.storage.blobs.s3 import MISSING, is_unreachable, s3_error

T = TypeVar("T")

_DELETE_BATCH = 1000
# S3's largest single CopyObject; larger objects are copied part by part.
_MAX_COPY = 5 * 1024**3


MarkInUse = Callable[[int, list[Digest]], Awaitable[None]]
# Awaited with (operation, keys) before each S3 write, copy and delete: a seam for fault tests
# (pause a gc inside its delete, fail a copy once). None, and so free, unless a test sets it.
Hook = Callable[[str, tuple[str, ...]], Awaitable[None]]


class S3BlobStore:
    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        threads: int,
        mark_in_use: MarkInUse | None = None,
        presign_client: Minio | None = None,
    ) -> None:
        self._client = client
        self._presigner = presign_client or client
        self.bucket = bucket
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="blobstore")
        # Server-side writers reuse an existing blob without rewriting it: marking it in use in
        # the blob index first (a row gc locks and checks) keeps gc from deleting it between
        # this reuse and the insert of the row that will reference it.
        self._mark_in_use = mark_in_use
        self.hook: Hook | None = None

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            with tracing.span("s3"):
                return await loop.run_in_executor(self._pool, fn)
        except S3Error as exc:
            mapped = s3_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        except Exception as exc:
            if is_unreachable(exc):
                raise Unavailable("the blob store is unreachable", reason=Reason.BLOB_STORE_UNAVAILABLE) from exc
            raise

    def cas_key(self, namespace_id: int, digest: Digest) -> str:
        return cas_key(namespace_id, digest)

    def staging_key(self, namespace_id: int, upload_id: str) -> str:
        return staging_key(namespace_id, upload_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def ensure_bucket(self) -> None:
        def create() -> None:
            if not self._client.bucket_exists(self.bucket):
                try:
                    self._client.make_bucket(self.bucket)
                except S3Error as exc:
                    # Another replica created it between our check and our call.
                    if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise

        await self._run(create)

    async def ping(self) -> None:
        await self._run(lambda: self._client.bucket_exists(self.bucket))

    def _exists_sync(self, key: str) -> bool:
        try:
            self._client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in MISSING:
                return False
            raise
        return True

    async def exists(self, namespace_id: int, digest: Digest) -> bool:
        key = cas_key(namespace_id, digest)
        return await self._run(lambda: self._exists_sync(key))

    async def put(self, namespace_id: int, data: bytes) -> Digest:
        digest = await hashing.digest_of(data)
        key = cas_key(namespace_id, digest)
        if self._mark_in_use is not None:
            await self._mark_in_use(namespace_id, [digest])
        if self.hook is not None:
            await self.hook("put", (key,))

        def put() -> None:
            if self._exists_sync(key):
                return
            self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type="application/octet-stream"
            )
            metrics.BLOB_BYTES.labels("in").inc(len(data))

        await self._run(put)
        return digest

    async def get(self, namespace_id: int, digest: Digest) -> bytes:
        key = cas_key(namespace_id, digest)

        def get() -> bytes:
            resp = self._client.get_object(self.bucket, key)
            try:
                return resp.read()
            finally:
                resp.close()
                resp.release_conn()

        data = await self._run(get)
        metrics.BLOB_BYTES.labels("out").inc(len(data))
        if len(data) != digest.size or await hashing.sha256_hex(data) != digest.hash:
            raise DataLoss(
                f"blob {digest} does not match its digest", reason=Reason.BLOB_CORRUPT, metadata={"digest": str(digest)}
            )
        return data

    # Streaming, multipart and presigned access, used by BlobService. Keys come from the helpers
    # above; these methods never decide visibility, the caller does (see domain/blobs/).

    async def stat_object(self, key: str) -> ObjectInfo | None:
        def stat() -> ObjectInfo | None:
            try:
                st = self._client.stat_object(self.bucket, key)
            except S3Error as exc:
                if exc.code in MISSING:
                    return None
                raise
            return ObjectInfo(key, int(st.size or 0), st.last_modified)

        return await self._run(stat)

    async def put_object(self, key: str, data: bytes) -> None:
        if self.hook is not None:
            await self.hook("put", (key,))
        await self._run(
            lambda: self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type="application/octet-stream"
            )
        )
        metrics.BLOB_BYTES.labels("in").inc(len(data))

    async def get_object(self, key: str) -> bytes:
        def get() -> bytes:
            resp = self._client.get_object(self.bucket, key)
            try:
                return bytes(resp.read())
            finally:
                resp.close()
                resp.release_conn()

        data = await self._run(get)
        metrics.BLOB_BYTES.labels("out").inc(len(data))
        return data

    async def read_range(self, key: str, offset: int, length: int, chunk_size: int) -> AsyncIterator[bytes]:
        """The bytes [offset, offset+length) in chunks, one chunk read ahead: memory stays at two
        chunks whatever the size, and the consumer's pace throttles the reads."""
        if length <= 0:
            return
        resp: Any = await self._run(lambda: self._client.get_object(self.bucket, key, offset=offset, length=length))
        loop = asyncio.get_running_loop()
        out = metrics.BLOB_BYTES.labels("out")

        def read() -> bytes:
            return bytes(resp.read(chunk_size))

        try:
            pending = loop.run_in_executor(self._pool, read)
            while True:
                try:
                    data = await pending
                except Exception as exc:
                    if is_unreachable(exc):
                        raise Unavailable(
                            "the blob store is unreachable", reason=Reason.BLOB_STORE_UNAVAILABLE
                        ) from exc
                    raise
                if not data:
                    return
                pending = loop.run_in_executor(self._pool, read)
                out.inc(len(data))
                yield data
        finally:
            resp.close()
            resp.release_conn()

    async def start_multipart(self, key: str) -> str:
        client: Any = self._client
        upload_id: str = await self._run(
            lambda: client._create_multipart_upload(self.bucket, key, {"Content-Type": "application/octet-stream"})
        )
        return upload_id

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        client: Any = self._client
        etag: str = await self._run(lambda: client._upload_part(self.bucket, key, data, None, upload_id, part_number))
        metrics.BLOB_BYTES.labels("in").inc(len(data))
        return etag

    async def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> None:
        client: Any = self._client
        parts = [Part(i + 1, etag) for i, etag in enumerate(etags)]
        await self._run(lambda: client._complete_multipart_upload(self.bucket, key, upload_id, parts))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        client: Any = self._client

        def abort() -> None:
            try:
                client._abort_multipart_upload(self.bucket, key, upload_id)
            except S3Error as exc:
                if exc.code not in {"NoSuchUpload", *MISSING}:
                    raise

        await self._run(abort)

    async def copy_object(self, src: str, dst: str, size: int) -> None:
        if self.hook is not None:
            await self.hook("copy", (src, dst))

        def copy() -> None:
            if size <= _MAX_COPY:
                self._client.copy_object(self.bucket, dst, CopySource(self.bucket, src))
            else:
                self._client.compose_object(self.bucket, dst, [ComposeSource(self.bucket, src)])

        await self._run(copy)

    async def delete_objects(self, keys: list[str]) -> int:
        def delete() -> int:
            done = 0
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = [DeleteObject(k) for k in keys[start : start + _DELETE_BATCH]]
                errors = [e for e in self._client.remove_objects(self.bucket, batch) if e.code not in MISSING]
                if errors:
                    raise RuntimeError(f"could not delete {len(errors)} objects: {errors[0]}")
                done += len(batch)
            return done

        if not keys:
            return 0
        if self.hook is not None:
            await self.hook("delete", tuple(keys))
        return await self._run(delete)

    async def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        def listing() -> list[ObjectInfo]:
            return [
                ObjectInfo(o.object_name, int(o.size or 0), o.last_modified)
                for o in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if o.object_name is not None
            ]

        return await self._run(listing)

    async def list_page(self, prefix: str, after: str, limit: int) -> list[ObjectInfo]:
        """At most `limit` objects under `prefix` whose keys sort after `after`, in key order."""

        def page() -> list[ObjectInfo]:
            out: list[ObjectInfo] = []
            listing = self._client.list_objects(self.bucket, prefix=prefix, recursive=True, start_after=after or None)
            for o in listing:
                if o.object_name is None:
                    continue
                out.append(ObjectInfo(o.object_name, int(o.size or 0), o.last_modified))
                if len(out) >= limit:
                    break
            return out

        return await self._run(page)

    async def iter_prefix(self, prefix: str, page_size: int = _DELETE_BATCH) -> AsyncIterator[list[ObjectInfo]]:
        """The objects under `prefix` a page at a time: memory stays at one page whatever the
        object count, and a page deleted by the consumer does not disturb the next one."""
        after = ""
        while True:
            page = await self.list_page(prefix, after, page_size)
            if not page:
                return
            yield page
            if len(page) < page_size:
                return
            after = page[-1].key

    async def presign_put(self, key: str, expires_s: int) -> str:
        return await self._run(
            lambda: self._presigner.presigned_put_object(self.bucket, key, expires=timedelta(seconds=expires_s))
        )

    async def presign_get(self, key: str, expires_s: int) -> str:
        return await self._run(
            lambda: self._presigner.presigned_get_object(self.bucket, key, expires=timedelta(seconds=expires_s))
        )

    async def namespace_ids(self) -> list[int]:
        """The namespace ids that have a prefix in the bucket."""

        def listing() -> list[int]:
            names = (o.object_name or "" for o in self._client.list_objects(self.bucket, recursive=False))
            return sorted({int(n[:-1]) for n in names if n.endswith("/") and n[:-1].isdigit()})

        return await self._run(listing)

    async def multipart_uploads(self, *, max_pages: int = 100) -> list[tuple[str, str]]:
        """(key, upload id) of incomplete multipart uploads in the bucket, at most max_pages
        pages of them (the rest on a later call); none from a server that cannot list them."""
        client: Any = self._client

        def listing() -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            marker = None
            for _ in range(max_pages):
                try:
                    page = client._list_multipart_uploads(self.bucket, key_marker=marker, max_uploads=1000)
                except S3Error:
                    return out
                out += [(u.object_name, u.upload_id) for u in page.uploads if u.object_name and u.upload_id]
                if not page.is_truncated or not page.next_key_marker:
                    break
                marker = page.next_key_marker
            return out

        return await self._run(listing)

    async def delete_namespace(self, namespace_id: int) -> int:
        prefix = namespace_prefix(namespace_id)

        def delete_all() -> int:
            removed = 0
            batch: list[DeleteObject] = []

            def flush() -> None:
                nonlocal removed
                errors = list(self._client.remove_objects(self.bucket, batch))
                if errors:
                    raise RuntimeError(f"could not delete {len(errors)} blobs: {errors[0]}")
                removed += len(batch)
                batch.clear()

            for obj in self._client.list_objects(self.bucket, prefix=prefix, recursive=True):
                if obj.object_name is not None:
                    batch.append(DeleteObject(obj.object_name))
                if len(batch) >= _DELETE_BATCH:
                    flush()
            if batch:
                flush()
            return removed

        return await self._run(delete_all)
