"""RecordService use cases: record directories as manifests of blobs (machinable's storage).

The client asks which file blobs are missing, uploads only those, then commits the manifest; a
commit naming an absent blob is refused, so a committed record never points at missing bytes.
"""

from __future__ import annotations

from collections.abc import Mapping

from artimeta_server.domain import validation
from artimeta_server.domain.errors import FailedPrecondition, NotFound
from artimeta_server.domain.namespaces.ports import NamespaceIds
from artimeta_server.domain.pagination import decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.records import limits
from artimeta_server.domain.records.manifest import (
    validate_entries,
    validate_metadata,
    validate_relations,
    validate_uuid,
)
from artimeta_server.domain.records.models import Containment, Entry, Record, RecordPage, Relation
from artimeta_server.domain.records.ports import BlobPresence, RecordRepository


def record_not_found(uuid: str) -> NotFound:
    return NotFound(f"record {uuid!r} does not exist", reason=Reason.RECORD_NOT_FOUND, metadata={"uuid": uuid})


def _bounded_walk(found: int, depth: int) -> None:
    if found > limits.MAX_RELATED or depth > limits.MAX_RELATION_DEPTH:
        raise FailedPrecondition(
            f"the relation walk exceeds {limits.MAX_RELATED} records or {limits.MAX_RELATION_DEPTH} levels; "
            "walk it level by level (deep=false)",
            reason=Reason.RELATION_WALK_TOO_LARGE,
            metadata={"max_records": str(limits.MAX_RELATED), "max_depth": str(limits.MAX_RELATION_DEPTH)},
        )


class Records:
    def __init__(self, repo: RecordRepository, blobs: BlobPresence, namespaces: NamespaceIds) -> None:
        self._repo = repo
        self._blobs = blobs
        self._ns = namespaces

    async def commit(
        self,
        namespace: str,
        uuid: str,
        entries: list[Entry],
        metadata: Mapping[str, str] | None,
        relations: list[Relation],
        *,
        replace: bool,
    ) -> tuple[Record, bool]:
        """The committed record (without entries) and whether it is new. metadata None keeps
        the record's; replace makes the entries exactly these, otherwise they are merged in."""
        validate_uuid(uuid)
        validate_entries(entries)
        validate_relations(relations)
        meta = validate_metadata(metadata)
        ns = await self._ns.resolve(namespace)
        digests = [e.digest for e in entries if e.digest is not None]
        missing = await self._blobs.missing_in(ns, digests)
        if missing:
            raise FailedPrecondition(
                f"{len(missing)} file blobs are missing; upload them first",
                reason=Reason.MISSING_BLOBS,
                metadata={"count": str(len(missing)), "first": str(missing[0])},
            )
        return await self._repo.commit(ns, uuid, entries, meta, relations, replace=replace)

    async def _get(self, ns: int, uuid: str, *, with_entries: bool) -> Record:
        record = await self._repo.get(ns, uuid, with_entries=with_entries)
        if record is None:
            raise record_not_found(uuid)
        return record

    async def get(self, namespace: str, uuid: str) -> Record:
        validate_uuid(uuid)
        return await self._get(await self._ns.resolve(namespace), uuid, with_entries=True)

    async def contains(self, namespace: str, uuid: str) -> Containment:
        validate_uuid(uuid)
        ns = await self._ns.resolve(namespace)
        record = await self._repo.get(ns, uuid, with_entries=True)
        if record is None:
            return Containment(indexed=False, missing_blobs=0)
        missing = await self._blobs.missing_in(ns, [e.digest for e in record.entries if e.digest is not None])
        return Containment(indexed=True, missing_blobs=len(missing))

    async def delete(self, namespace: str, uuid: str, *, allow_missing: bool) -> bool:
        validate_uuid(uuid)
        ns = await self._ns.resolve(namespace)
        deleted = await self._repo.delete(ns, uuid)
        if not deleted and not allow_missing:
            raise record_not_found(uuid)
        return deleted

    async def search(
        self, namespace: str, prefix: str, metadata: Mapping[str, str], requested_size: int, token: str
    ) -> RecordPage:
        validation.text(prefix, field="uuid_prefix", max_len=128)
        meta = validation.labels(metadata)
        size = page_size(requested_size)
        after = decode_token("records", token, (str,))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.page(ns, prefix, meta, str(after[0]) if after else None, size + 1)
        next_token = encode_token("records", [rows[size - 1].uuid]) if len(rows) > size else ""
        return RecordPage(rows[:size], next_token)

    async def related(self, namespace: str, uuid: str, *, deep: bool) -> list[str]:
        """The uuids related to uuid (either direction), sorted; deep follows relations through."""
        validate_uuid(uuid)
        ns = await self._ns.resolve(namespace)
        await self._get(ns, uuid, with_entries=False)
        max_related = limits.MAX_RELATED
        if not deep:
            found = set(await self._repo.neighbours(ns, [uuid], max_related + 2))
            found.discard(uuid)
            _bounded_walk(len(found), 1)
            return sorted(found)
        # Breadth first, one statement a level, each record expanded once: a walk costs at most
        # MAX_RELATION_DEPTH statements and sees at most MAX_RELATED records, whatever the graph.
        seen = {uuid}
        layer = [uuid]
        depth = 0
        while layer:
            hop = await self._repo.neighbours(ns, layer, max_related + 2)
            if len(hop) > max_related + 1:  # that many distinct records, all reachable
                _bounded_walk(len(hop), depth)
            layer = [u for u in hop if u not in seen]
            if layer:
                depth += 1
                seen.update(layer)
                _bounded_walk(len(seen) - 1, depth)
        seen.discard(uuid)
        return sorted(seen)
