"""BatchUpdateBlobs and BatchReadBlobs: many small blobs in one message, an outcome per item."""

from __future__ import annotations

from artimeta_server.domain import hashing
from artimeta_server.domain.blobs.models import Capabilities
from artimeta_server.domain.blobs.presence import Presence
from artimeta_server.domain.blobs.rules import TOUCH_AFTER_S, blob_not_found, mismatch
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DataLoss, DomainError, InvalidArgument, NotFound
from artimeta_server.domain.namespaces.ports import NamespaceIds
from artimeta_server.domain.reasons import Reason


class Batches:
    def __init__(self, presence: Presence, namespaces: NamespaceIds, capabilities: Capabilities) -> None:
        self._presence = presence
        self._store = presence.store
        self._index = presence.index
        self._ns = namespaces
        self._cap = capabilities

    def _check_batch(self, count: int, total: int) -> None:
        cap = self._cap
        if count > cap.max_batch_items or total > cap.max_batch_total_bytes:
            raise InvalidArgument(
                f"a batch holds at most {cap.max_batch_items} items and {cap.max_batch_total_bytes} bytes",
                reason=Reason.BATCH_TOO_LARGE,
                metadata={"max_items": str(cap.max_batch_items), "max_bytes": str(cap.max_batch_total_bytes)},
            )

    async def update(self, namespace: str, items: list[tuple[Digest, bytes]]) -> list[DomainError | None]:
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

            failed = await self._presence.put_claimed(ns, {d: valid[d] for d in todo})
            for i, (digest, _) in enumerate(items):
                err = failed.get(digest)
                if results[i] is None and err is not None:
                    results[i] = err if isinstance(err, DomainError) else DomainError(str(err), reason=Reason.INTERNAL)
        return results

    async def read(self, namespace: str, digests: list[Digest]) -> list[bytes | DomainError]:
        self._check_batch(len(digests), sum(d.size for d in digests))
        ns = await self._ns.resolve(namespace)
        limit = self._cap.max_batch_total_bytes
        # The declared sizes are the caller's word: what is read is bounded by the stored sizes
        # (index first, S3 for blobs it does not know), checked before any byte is read.
        hashes = list(dict.fromkeys(d.hash for d in digests))
        stored = await self._index.sizes(ns, hashes)
        unknown = [h for h in hashes if h not in stored]
        infos = await self._presence.fan_out_stat([self._store.cas_key(ns, Digest(h, 0)) for h in unknown])
        for h, info in zip(unknown, infos, strict=True):
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

        outcomes = await self._presence.fan_out(read, digests)
        for out in outcomes:
            if isinstance(out, BaseException) and not isinstance(out, DomainError):
                raise out
        return outcomes  # type: ignore[return-value] # read() returns DomainErrors, raises nothing else
