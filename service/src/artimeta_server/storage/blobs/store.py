"""Content-addressed blobs in any S3 store: whole blobs by digest for the metadata services,
and the bucket-wide listings gc and namespace deletion walk. Object access is S3Objects'."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import S3Error

from artimeta_server import metrics
from artimeta_server.domain import hashing
from artimeta_server.domain.blobs.models import ObjectInfo
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss
from artimeta_server.domain.reasons import Reason
from artimeta_server.storage.blobs.keys import cas_key, namespace_prefix
from artimeta_server.storage.blobs.objects import DELETE_BATCH, S3Objects
from artimeta_server.storage.blobs.s3 import MISSING

MarkInUse = Callable[[int, list[Digest]], Awaitable[None]]


class S3BlobStore(S3Objects):
    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        threads: int,
        mark_in_use: MarkInUse | None = None,
        presign_client: Minio | None = None,
    ) -> None:
        super().__init__(client, bucket, threads=threads, presign_client=presign_client)
        # Server-side writers reuse an existing blob without rewriting it: marking it in use in
        # the blob index first (a row gc locks and checks) keeps gc from deleting it between
        # this reuse and the insert of the row that will reference it.
        self._mark_in_use = mark_in_use

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

    async def iter_prefix(self, prefix: str, page_size: int = DELETE_BATCH) -> AsyncIterator[list[ObjectInfo]]:
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
                if len(batch) >= DELETE_BATCH:
                    flush()
            if batch:
                flush()
            return removed

        return await self._run(delete_all)
