"""S3 objects by key through the synchronous minio client: what the blob use cases stream,
stage, copy and delete. Every call runs in a bounded thread pool so the event loop never blocks;
these methods never decide visibility, the caller does (see domain/blobs/)."""

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
from artimeta_server.domain.blobs.models import ObjectInfo
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import Unavailable
from artimeta_server.domain.reasons import Reason
from artimeta_server.storage.blobs.keys import cas_key, staging_key
from artimeta_server.storage.blobs.s3 import MISSING, is_unreachable, s3_error

T = TypeVar("T")

DELETE_BATCH = 1000
# S3's largest single CopyObject; larger objects are copied part by part.
_MAX_COPY = 5 * 1024**3

# Awaited with (operation, keys) before each S3 write, copy and delete: a seam for fault tests
# (pause a gc inside its delete, fail a copy once). None, and so free, unless a test sets it.
Hook = Callable[[str, tuple[str, ...]], Awaitable[None]]


class S3Objects:
    def __init__(self, client: Minio, bucket: str, *, threads: int, presign_client: Minio | None = None) -> None:
        self._client = client
        self._presigner = presign_client or client
        self.bucket = bucket
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="blobstore")
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
            for start in range(0, len(keys), DELETE_BATCH):
                batch = [DeleteObject(k) for k in keys[start : start + DELETE_BATCH]]
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

    async def presign_put(self, key: str, expires_s: int) -> str:
        return await self._run(
            lambda: self._presigner.presigned_put_object(self.bucket, key, expires=timedelta(seconds=expires_s))
        )

    async def presign_get(self, key: str, expires_s: int) -> str:
        return await self._run(
            lambda: self._presigner.presigned_get_object(self.bucket, key, expires=timedelta(seconds=expires_s))
        )
