"""In-memory ports for the record use cases: a record repository and blob presence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.records.models import Entry, Record, Relation

NS = "team-a"
NS_ID = 3


class FakeNamespaces:
    async def resolve(self, name: str) -> int:
        if name != NS:
            raise NotFound(f"namespace {name!r} does not exist", reason=Reason.NAMESPACE_NOT_FOUND)
        return NS_ID


class FakeBlobPresence:
    def __init__(self) -> None:
        self.present: set[Digest] = set()
        self.asked: list[list[Digest]] = []

    async def missing_in(self, namespace_id: int, digests: list[Digest]) -> list[Digest]:
        assert namespace_id == NS_ID
        self.asked.append(list(digests))
        return [d for d in dict.fromkeys(digests) if d not in self.present]


class FakeRecordRepository:
    def __init__(self) -> None:
        self.records: dict[tuple[int, str], Record] = {}
        self.neighbour_calls = 0

    async def commit(
        self,
        namespace_id: int,
        uuid: str,
        entries: list[Entry],
        metadata: dict[str, str] | None,
        relations: list[Relation],
        *,
        replace: bool,
    ) -> tuple[Record, bool]:
        old = self.records.get((namespace_id, uuid))
        now = datetime.now(UTC)
        kept = {} if replace or old is None else {e.path: e for e in old.entries}
        kept.update({e.path: e for e in entries})
        merged = sorted(kept.values(), key=lambda e: e.path)
        rels = sorted({*(old.relations if old else []), *relations}, key=lambda r: (r.related_uuid, r.name))
        record = Record(
            uuid=uuid,
            metadata=metadata if metadata is not None else (old.metadata if old else {}),
            relations=rels,
            entries=merged,
            file_count=sum(1 for e in merged if e.digest is not None),
            total_size=sum(e.digest.size for e in merged if e.digest is not None),
            create_time=old.create_time if old else now,
            update_time=now,
        )
        self.records[(namespace_id, uuid)] = record
        return _without_entries(record), old is None

    async def get(self, namespace_id: int, uuid: str, *, with_entries: bool) -> Record | None:
        record = self.records.get((namespace_id, uuid))
        if record is None:
            return None
        return record if with_entries else _without_entries(record)

    async def delete(self, namespace_id: int, uuid: str) -> bool:
        return self.records.pop((namespace_id, uuid), None) is not None

    async def page(
        self, namespace_id: int, prefix: str, metadata: dict[str, str], after: str | None, limit: int
    ) -> list[Record]:
        rows = [
            _without_entries(r)
            for (ns, u), r in sorted(self.records.items())
            if ns == namespace_id
            and u.startswith(prefix)
            and (after is None or u > after)
            and metadata.items() <= r.metadata.items()
        ]
        return rows[:limit]

    async def neighbours(self, namespace_id: int, uuids: list[str], limit: int) -> list[str]:
        self.neighbour_calls += 1
        wanted = set(uuids)
        found: set[str] = set()
        for (ns, u), r in self.records.items():
            if ns != namespace_id:
                continue
            for rel in r.relations:
                if u in wanted:
                    found.add(rel.related_uuid)
                if rel.related_uuid in wanted:
                    found.add(u)
        return sorted(found)[:limit]


def _without_entries(record: Record) -> Record:
    return replace(record, entries=[])
