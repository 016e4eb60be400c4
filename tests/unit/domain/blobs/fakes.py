"""In-memory ports for the blob use cases: an object store (a dict of keys) and a blob index."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

from artimeta_server.domain.blobs.models import KeyEntry, ObjectInfo, PendingUpload
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.reasons import Reason

NS = "team-a"
NS_ID = 7
PART = 16  # bytes: a blob over this size goes through a multipart upload


class FakeNamespaces:
    def __init__(self, names: dict[str, int] | None = None) -> None:
        self.names = names if names is not None else {NS: NS_ID}

    async def resolve(self, name: str) -> int:
        if name not in self.names:
            raise NotFound(f"namespace {name!r} does not exist", reason=Reason.NAMESPACE_NOT_FOUND)
        return self.names[name]


class FakeObjectStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.multipart: dict[str, tuple[str, list[bytes]]] = {}
        self.aborted: list[str] = []
        # Called after each copy: lets a test delete the copy under the writer (a racing gc).
        self.after_copy: Callable[[str], object] | None = None

    def cas_key(self, namespace_id: int, digest: Digest) -> str:
        return f"{namespace_id}/cas/{digest.hash[:2]}/{digest.hash[2:]}"

    def staging_key(self, namespace_id: int, upload_id: str) -> str:
        return f"{namespace_id}/staging/{upload_id}"

    async def stat_object(self, key: str) -> ObjectInfo | None:
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(key, len(data), None)

    async def put_object(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    async def get_object(self, key: str) -> bytes:
        if key not in self.objects:
            raise NotFound("blob not found", reason=Reason.BLOB_NOT_FOUND)
        return self.objects[key]

    async def read_range(self, key: str, offset: int, length: int, chunk_size: int) -> AsyncIterator[bytes]:
        data = (await self.get_object(key))[offset : offset + length]
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]

    async def start_multipart(self, key: str) -> str:
        upload_id = f"mp-{len(self.multipart)}"
        self.multipart[upload_id] = (key, [])
        return upload_id

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes) -> str:
        parts = self.multipart[upload_id][1]
        assert part_number == len(parts) + 1
        parts.append(data)
        return f"etag-{part_number}"

    async def complete_multipart(self, key: str, upload_id: str, etags: list[str]) -> None:
        _, parts = self.multipart.pop(upload_id)
        assert len(etags) == len(parts)
        self.objects[key] = b"".join(parts)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self.multipart.pop(upload_id, None)
        self.aborted.append(upload_id)

    async def copy_object(self, src: str, dst: str, size: int) -> None:
        self.objects[dst] = self.objects[src]
        if self.after_copy is not None:
            self.after_copy(dst)

    async def delete_objects(self, keys: list[str]) -> int:
        for k in keys:
            self.objects.pop(k, None)
        return len(keys)

    async def list_prefix(self, prefix: str) -> list[ObjectInfo]:
        return [ObjectInfo(k, len(v), None) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]

    async def presign_put(self, key: str, expires_s: int) -> str:
        return f"https://s3.test/{key}?put&expires={expires_s}"

    async def presign_get(self, key: str, expires_s: int) -> str:
        return f"https://s3.test/{key}?get&expires={expires_s}"

    def cas_keys(self) -> list[str]:
        return sorted(k for k in self.objects if "/cas/" in k)


class _FakeClaim:
    def __init__(self, index: FakeBlobIndex, namespace_id: int) -> None:
        self._index = index
        self._ns = namespace_id

    async def drop(self, digests: list[Digest]) -> None:
        for d in digests:
            self._index.rows.pop((self._ns, d), None)


class FakeBlobIndex:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, Digest], datetime] = {}
        self.references: set[tuple[int, Digest]] = set()
        self.uploads: dict[tuple[int, str], PendingUpload] = {}
        self.keys: dict[tuple[int, str], KeyEntry] = {}
        self.claims = 0

    async def present(self, namespace_id: int, digests: list[Digest], *, touch_after_s: float) -> set[Digest]:
        return {d for d in digests if (namespace_id, d) in self.rows}

    async def add(self, namespace_id: int, digests: list[Digest]) -> None:
        for d in digests:
            self.rows.setdefault((namespace_id, d), datetime.now(UTC))

    @asynccontextmanager
    async def claim(self, namespace_id: int, digests: list[Digest]) -> AsyncIterator[_FakeClaim]:
        self.claims += 1
        # A claim inserts the rows up front; on error they are rolled back.
        before = dict(self.rows)
        for d in digests:
            self.rows.setdefault((namespace_id, d), datetime.now(UTC))
        try:
            yield _FakeClaim(self, namespace_id)
        except BaseException:
            self.rows = before
            raise

    async def sizes(self, namespace_id: int, hashes: list[str]) -> dict[str, int]:
        return {d.hash: d.size for (ns, d) in self.rows if ns == namespace_id and d.hash in hashes}

    async def remove(self, namespace_id: int, digest: Digest) -> None:
        self.rows.pop((namespace_id, digest), None)

    async def create_time(self, namespace_id: int, digest: Digest) -> datetime | None:
        return self.rows.get((namespace_id, digest))

    async def referenced(self, namespace_id: int, digests: list[Digest]) -> set[Digest]:
        return {d for d in digests if (namespace_id, d) in self.references}

    async def start_upload(self, row: PendingUpload) -> None:
        self.uploads[(row.namespace_id, row.upload_id)] = row

    async def get_upload(self, namespace_id: int, upload_id: str) -> PendingUpload | None:
        return self.uploads.get((namespace_id, upload_id))

    async def renew_upload(self, namespace_id: int, upload_id: str, expire_time: datetime) -> bool:
        row = self.uploads.get((namespace_id, upload_id))
        if row is None:
            return False
        self.uploads[(namespace_id, upload_id)] = replace(row, expire_time=expire_time)
        return True

    async def finish_upload(self, namespace_id: int, upload_id: str) -> None:
        self.uploads.pop((namespace_id, upload_id), None)

    async def put_key(self, namespace_id: int, key: str, digest: Digest) -> tuple[KeyEntry, Digest | None]:
        previous = self.keys.get((namespace_id, key))
        entry = KeyEntry(key, digest, datetime.now(UTC))
        self.keys[(namespace_id, key)] = entry
        return entry, previous.digest if previous is not None else None

    async def get_key(self, namespace_id: int, key: str) -> KeyEntry | None:
        return self.keys.get((namespace_id, key))

    async def delete_key(self, namespace_id: int, key: str) -> bool:
        return self.keys.pop((namespace_id, key), None) is not None

    async def list_keys(self, namespace_id: int, prefix: str, after: str | None, limit: int) -> list[KeyEntry]:
        names = sorted(
            k for (ns, k) in self.keys if ns == namespace_id and k.startswith(prefix) and (after is None or k > after)
        )
        return [self.keys[(namespace_id, k)] for k in names[:limit]]
