"""Content-addressed blobs in any S3 store through the synchronous minio client.

Every call runs in a bounded thread pool so the event loop never blocks. Keys are derived from
the digest, `<namespace id>/cas/<2 hex>/<62 hex>`: the namespace id is never reused, so deleting a
namespace can remove its prefix without racing a namespace re-created under the same name.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error, ServerError

from artimeta_server import metrics, tracing
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, NotFound, Unavailable

T = TypeVar("T")

_MISSING = {"NoSuchKey", "NoSuchObject", "NotFound"}
_DELETE_BATCH = 1000


def cas_key(namespace_id: int, digest: Digest) -> str:
    return f"{namespace_id}/cas/{digest.hash[:2]}/{digest.hash[2:]}"


def namespace_prefix(namespace_id: int) -> str:
    return f"{namespace_id}/"


def _is_unreachable(exc: BaseException) -> bool:
    return isinstance(exc, (urllib3.exceptions.HTTPError, OSError, ServerError))


def make_client(
    endpoint: str,
    access_key: str,
    secret_key: str,
    *,
    secure: bool,
    region: str | None,
    max_connections: int,
    timeout_s: float,
) -> Minio:
    # minio's default http client retries for ~10 s on a dead server; fail fast instead and let
    # the caller's gRPC retry policy (UNAVAILABLE) decide.
    http = urllib3.PoolManager(
        maxsize=max_connections,
        timeout=urllib3.Timeout(connect=min(timeout_s, 3.0), read=timeout_s),
        retries=urllib3.Retry(total=1, backoff_factor=0.1, status_forcelist=(502, 503, 504)),
        cert_reqs="CERT_REQUIRED" if secure else "CERT_NONE",
    )
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, region=region, http_client=http)


class S3BlobStore:
    def __init__(self, client: Minio, bucket: str, *, threads: int) -> None:
        self._client = client
        self.bucket = bucket
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="blobstore")

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            with tracing.span("s3"):
                return await loop.run_in_executor(self._pool, fn)
        except S3Error as exc:
            if exc.code in _MISSING:
                raise NotFound("blob not found", reason="BLOB_NOT_FOUND") from exc
            raise
        except Exception as exc:
            if _is_unreachable(exc):
                raise Unavailable("the blob store is unreachable", reason="BLOB_STORE_UNAVAILABLE") from exc
            raise

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
            if exc.code in _MISSING:
                return False
            raise
        return True

    async def exists(self, namespace_id: int, digest: Digest) -> bool:
        key = cas_key(namespace_id, digest)
        return await self._run(lambda: self._exists_sync(key))

    async def put(self, namespace_id: int, data: bytes) -> Digest:
        digest = Digest.of(data)
        key = cas_key(namespace_id, digest)

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
        if len(data) != digest.size or hashlib.sha256(data).hexdigest() != digest.hash:
            raise DataLoss(
                f"blob {digest} does not match its digest", reason="BLOB_CORRUPT", metadata={"digest": str(digest)}
            )
        return data

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
