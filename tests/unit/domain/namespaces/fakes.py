"""In-memory NamespaceRepository and blob store, with the contracts of the Postgres ones."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import AlreadyExists, NotFound, Unavailable
from artimeta_server.domain.fresh import FreshCache
from artimeta_server.domain.namespaces.models import Namespace
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.reasons import Reason


class FakeNamespaceRepository:
    def __init__(self) -> None:
        self.rows: dict[str, Namespace] = {}
        self.tombstones_at: dict[int, float] = {}  # id -> deletion time
        self.clock = 0.0
        self.gets = 0
        self._next_id = 1

    async def create(self, name: str, description: str, labels: Mapping[str, str]) -> Namespace:
        if name in self.rows:
            raise AlreadyExists(f"namespace {name!r} already exists", reason=Reason.NAMESPACE_EXISTS)
        ns = Namespace(self._next_id, name, description, dict(labels))
        self._next_id += 1
        self.rows[name] = ns
        return ns

    async def get(self, name: str) -> Namespace:
        self.gets += 1
        if name not in self.rows:
            raise NotFound(f"namespace {name!r} does not exist", reason=Reason.NAMESPACE_NOT_FOUND)
        return self.rows[name]

    async def page(self, after: str | None, limit: int) -> list[Namespace]:
        names = sorted(n for n in self.rows if after is None or n > after)
        return [self.rows[n] for n in names[:limit]]

    async def delete(self, name: str) -> Namespace | None:
        gone = self.rows.pop(name, None)
        if gone is not None:
            self.tombstones_at[gone.id] = self.clock
        return gone

    async def tombstones(self) -> list[int]:
        return sorted(self.tombstones_at)

    async def clear_tombstone(self, namespace_id: int, *, older_than_s: float = 0.0) -> None:
        deleted = self.tombstones_at.get(namespace_id)
        if deleted is not None and self.clock - deleted >= older_than_s:
            del self.tombstones_at[namespace_id]


class FakeBlobStore:
    """Bytes by (namespace id, digest); `down` makes every call fail as an unreachable store does."""

    def __init__(self) -> None:
        self.objects: dict[tuple[int, Digest], bytes] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise Unavailable("the blob store is unreachable", reason=Reason.BLOB_STORE_UNAVAILABLE)

    async def put(self, namespace_id: int, data: bytes) -> Digest:
        self._check()
        digest = Digest(hashlib.sha256(data).hexdigest(), len(data))
        self.objects[(namespace_id, digest)] = data
        return digest

    async def get(self, namespace_id: int, digest: Digest) -> bytes:
        self._check()
        try:
            return self.objects[(namespace_id, digest)]
        except KeyError:
            raise NotFound("no such blob", reason=Reason.BLOB_NOT_FOUND) from None

    async def exists(self, namespace_id: int, digest: Digest) -> bool:
        self._check()
        return (namespace_id, digest) in self.objects

    async def delete_namespace(self, namespace_id: int) -> int:
        self._check()
        mine = [k for k in self.objects if k[0] == namespace_id]
        for k in mine:
            del self.objects[k]
        return len(mine)

    async def ping(self) -> None:
        self._check()


def live_cache() -> FreshCache[object]:
    """A read cache whose change feed listens (so it serves hits)."""
    cache: FreshCache[object] = FreshCache(max_bytes=1 << 20, ttl_s=60.0)
    cache.live = True
    return cache


def namespaces(
    repo: FakeNamespaceRepository | None = None, blobs: FakeBlobStore | None = None
) -> tuple[Namespaces, FakeNamespaceRepository, FakeBlobStore]:
    repo = repo or FakeNamespaceRepository()
    blobs = blobs or FakeBlobStore()
    return Namespaces(repo, blobs, cache=live_cache()), repo, blobs
