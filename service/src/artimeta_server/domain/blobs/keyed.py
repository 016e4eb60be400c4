"""Keyed objects: a name in a namespace that points at a blob, moved by PutKey (last write wins)."""

from __future__ import annotations

from artimeta_server.domain import hashing, validation
from artimeta_server.domain.blobs.models import KeyEntry, KeyPage
from artimeta_server.domain.blobs.presence import Presence
from artimeta_server.domain.blobs.rules import MAX_KEY_CHARS, validate_key
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, FailedPrecondition, NotFound
from artimeta_server.domain.namespaces.ports import NamespaceIds
from artimeta_server.domain.pagination import decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason


def key_not_found(key: str) -> NotFound:
    return NotFound(f"key {key!r} does not exist", reason=Reason.KEY_NOT_FOUND, metadata={"key": key[:256]})


class KeyedObjects:
    def __init__(self, presence: Presence, namespaces: NamespaceIds, *, max_inline_bytes: int) -> None:
        self._presence = presence
        self._store = presence.store
        self._index = presence.index
        self._ns = namespaces
        self._max_inline = max_inline_bytes

    async def put(self, namespace: str, key: str, digest: Digest) -> tuple[KeyEntry, Digest | None]:
        """The new entry and the digest the key pointed at before (None for a new key)."""
        validate_key(key)
        ns = await self._ns.resolve(namespace)
        if not await self._presence.present(ns, digest):
            raise FailedPrecondition(
                f"blob {digest} does not exist; upload it first",
                reason=Reason.BLOB_NOT_FOUND,
                metadata={"digest": str(digest)},
            )
        return await self._index.put_key(ns, key, digest)

    async def get(self, namespace: str, key: str, *, include_data: bool) -> tuple[KeyEntry, bytes | None]:
        """The entry, and its bytes when asked for and small enough for one message."""
        validate_key(key)
        ns = await self._ns.resolve(namespace)
        entry = await self._index.get_key(ns, key)
        if entry is None:
            raise key_not_found(key)
        data = None
        if include_data and entry.digest.size <= self._max_inline:
            try:
                data = await self._store.get_object(self._store.cas_key(ns, entry.digest))
            except NotFound:
                raise DataLoss(
                    f"key {key!r} points at a missing blob",
                    reason=Reason.BLOB_MISSING,
                    metadata={"digest": str(entry.digest)},
                ) from None
            if await hashing.digest_of(data) != entry.digest:
                raise DataLoss(f"blob {entry.digest} does not match its digest", reason=Reason.BLOB_CORRUPT)
        return entry, data

    async def delete(self, namespace: str, key: str, *, allow_missing: bool) -> bool:
        validate_key(key)
        ns = await self._ns.resolve(namespace)
        deleted = await self._index.delete_key(ns, key)
        if not deleted and not allow_missing:
            raise key_not_found(key)
        return deleted

    async def page(self, namespace: str, prefix: str, requested_size: int, token: str) -> KeyPage:
        validation.text(prefix, field="prefix", max_len=MAX_KEY_CHARS)
        size = page_size(requested_size)
        after = decode_token("keys", token, (str,))
        ns = await self._ns.resolve(namespace)
        rows = await self._index.list_keys(ns, prefix, str(after[0]) if after else None, size + 1)
        next_token = encode_token("keys", [rows[size - 1].key]) if len(rows) > size else ""
        return KeyPage(rows[:size], next_token)
