"""What the blob use cases need from storage: streaming object access (S3), the blob index, keyed
objects and uploads in flight (Postgres), and the whole-blob store the metadata services use."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from artimeta_server.domain.blobs.models import KeyEntry, ObjectInfo, PendingUpload
from artimeta_server.domain.digests import Digest


class NamespaceIds(Protocol):
    async def resolve(self, name: str) -> int:
        """The id of a namespace, NotFound if it does not exist."""
        ...


class ObjectStore(Protocol):
    def cas_key(self, namespace_id: int, digest: Digest) -> str: ...

    def staging_key(self, namespace_id: int, upload_id: str) -> str: ...

    async def stat_object(self, key: str) -> ObjectInfo | None: ...

    async def put_object(self, key: str, data: bytes) -> None: ...

    async def get_object(self, key: str) -> bytes: ...

    def read_range(self, key: str, offset: int, length: int, chunk_size: int) -> AsyncIterator[bytes]: ...

    async def start_multipart(self, key: str) -> str: ...

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str: ...

    async def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> None: ...

    async def abort_multipart(self, key: str, upload_id: str) -> None: ...

    async def copy_object(self, src: str, dst: str, size: int) -> None: ...

    async def delete_objects(self, keys: list[str]) -> int: ...

    async def list_prefix(self, prefix: str) -> list[ObjectInfo]: ...

    async def presign_put(self, key: str, expires_s: int) -> str: ...

    async def presign_get(self, key: str, expires_s: int) -> str: ...


class BlobClaim(Protocol):
    async def drop(self, digests: list[Digest]) -> None:
        """Removes these rows: their objects turned out absent."""
        ...


class BlobIndex(Protocol):
    async def present(self, namespace_id: int, digests: list[Digest], *, touch_after_s: float) -> set[Digest]:
        """Which digests the index holds; refreshes the last-use time of those not used for
        touch_after_s, so garbage collection (whose grace is longer) leaves them alone."""
        ...

    async def add(self, namespace_id: int, digests: list[Digest]) -> None:
        """Records committed blobs (or refreshes their last use)."""
        ...

    def claim(self, namespace_id: int, digests: list[Digest]) -> AbstractAsyncContextManager[BlobClaim]:
        """Inserts or refreshes the rows of digests and holds them locked until the block ends
        (committed on success, rolled back on error). gc holds the same locks from its decision
        to delete until its S3 delete is done, so an object seen present inside a claim stays
        until the grace period has passed from now."""
        ...

    async def sizes(self, namespace_id: int, hashes: list[str]) -> dict[str, int]:
        """The stored size of each hash the index holds."""
        ...

    async def remove(self, namespace_id: int, digest: Digest) -> None: ...

    async def create_time(self, namespace_id: int, digest: Digest) -> datetime | None: ...

    async def referenced(self, namespace_id: int, digests: list[Digest]) -> set[Digest]:
        """Which digests a row listed in storage/blobs/references.py points at."""
        ...

    async def start_upload(self, row: PendingUpload) -> None: ...

    async def get_upload(self, namespace_id: int, upload_id: str) -> PendingUpload | None: ...

    async def renew_upload(self, namespace_id: int, upload_id: str, expire_time: datetime) -> bool:
        """Moves an upload's lease to expire_time; False when the row is gone (gc reclaimed it)."""
        ...

    async def finish_upload(self, namespace_id: int, upload_id: str) -> None: ...

    async def put_key(self, namespace_id: int, key: str, digest: Digest) -> tuple[KeyEntry, Digest | None]: ...

    async def get_key(self, namespace_id: int, key: str) -> KeyEntry | None: ...

    async def delete_key(self, namespace_id: int, key: str) -> bool: ...

    async def list_keys(self, namespace_id: int, prefix: str, after: str | None, limit: int) -> list[KeyEntry]: ...


class BlobStore(Protocol):
    """Whole blobs by digest, for services that keep documents and values in the blob store."""

    async def put(self, namespace_id: int, data: bytes) -> Digest:
        """Stores bytes under their digest unless already present; returns the digest."""
        ...

    async def get(self, namespace_id: int, digest: Digest) -> bytes:
        """The bytes of a digest, verified; NotFound when absent, Internal-level error when corrupt."""
        ...

    async def exists(self, namespace_id: int, digest: Digest) -> bool: ...

    async def delete_namespace(self, namespace_id: int) -> int:
        """Removes every object of a namespace; returns how many were removed."""
        ...

    async def ping(self) -> None: ...
