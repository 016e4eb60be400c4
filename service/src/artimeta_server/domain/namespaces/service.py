"""Namespace use cases, and the name -> id resolution every other RPC starts with."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from artimeta_server.domain import validation
from artimeta_server.domain.errors import NotFound, Unavailable
from artimeta_server.domain.fresh import FreshCache, namespace_key
from artimeta_server.domain.namespaces.models import DeletedNamespace, Namespace, NamespacePage
from artimeta_server.domain.namespaces.ports import NamespaceBlobs, NamespaceRepository
from artimeta_server.domain.pagination import decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason

log = logging.getLogger("artimeta.namespaces")

# What a cached namespace holds besides its name and labels (id, time, the object itself).
_ROW_BYTES = 200
# Longer than any single write to S3 takes (its timeout, a retry, a large copy): a write that
# resolved a namespace before its deletion has landed by then. gc sweeps whatever lands later.
SETTLE_S = 600.0


class Namespaces:
    def __init__(self, repo: NamespaceRepository, blobs: NamespaceBlobs, *, cache: FreshCache[object]) -> None:
        self._repo = repo
        self._blobs = blobs
        # Namespaces that exist, by name (names nobody created are never kept); creations and
        # deletions are announced to every replica (domain/fresh.py).
        self._cache = cache

    async def create(self, name: str, description: str, labels: Mapping[str, str]) -> Namespace:
        validation.namespace_name(name)
        validation.text(description, field="description", max_len=validation.MAX_DESCRIPTION)
        created = await self._repo.create(name, description, validation.labels(labels))
        self._cache.changed((namespace_key(name),))
        return created

    async def get(self, name: str, *, strong: bool = False) -> Namespace:
        """A namespace by name; from memory unless `strong` (then from the database)."""
        key = namespace_key(name)
        if not strong:
            hit = self._cache.get(key)
            if isinstance(hit, Namespace):
                return hit
        validation.namespace_name(name)
        ticket = self._cache.ticket()
        ns = await self._repo.get(name)
        self._cache.put(
            key,
            ns,
            _ROW_BYTES + len(name) + len(ns.description) + sum(len(k) + len(v) for k, v in ns.labels.items()),
            ticket,
        )
        return ns

    async def list(self, requested_size: int, token: str) -> NamespacePage:
        size = page_size(requested_size)
        after = decode_token("ns", token, (str,))
        rows = await self._repo.page(str(after[0]) if after else None, size + 1)
        next_token = encode_token("ns", [rows[size - 1].name]) if len(rows) > size else ""
        return NamespacePage(rows[:size], next_token)

    async def delete(self, name: str, *, allow_missing: bool) -> DeletedNamespace:
        validation.namespace_name(name)
        gone = await self._repo.delete(name)
        self._cache.changed((namespace_key(name),))
        if gone is None:
            if allow_missing:
                return DeletedNamespace(False, 0)
            raise NotFound(
                f"namespace {name!r} does not exist", reason=Reason.NAMESPACE_NOT_FOUND, metadata={"namespace": name}
            )
        # Rows go first (cascading, leaving a tombstone); the blobs of an id nobody can reach any
        # more follow. A blob store that fails here must not undo the rows' deletion (a request_id
        # unit of work would roll it back over a half-purged prefix): the deletion stands, and
        # purge_tombstones() finishes the bytes later, since the id is never reused.
        try:
            removed = await self._purge(gone.id)
        except Unavailable:
            log.warning("namespace %r deleted; its blobs are purged when the blob store is back", name)
            removed = 0
        return DeletedNamespace(True, removed)

    async def _purge(self, namespace_id: int) -> int:
        removed = await self._blobs.delete_namespace(namespace_id)
        # Writes that resolved the id before the delete may still land after this purge; the
        # tombstone stays until they cannot, and every janitor round purges again meanwhile.
        await self._repo.clear_tombstone(namespace_id, older_than_s=SETTLE_S)
        return removed

    async def purge_tombstones(self) -> int:
        """Removes the blobs of deleted namespaces whose deletion did not finish; returns how many."""
        total = 0
        for namespace_id in await self._repo.tombstones():
            total += await self._purge(namespace_id)
        return total

    async def resolve(self, name: str, *, strong: bool = False) -> int:
        """The id of a namespace, NotFound if it does not exist."""
        return (await self.get(name, strong=strong)).id

    def forget(self, name: str) -> None:
        self._cache.changed((namespace_key(name),))
