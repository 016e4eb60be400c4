"""What the record use cases need: the records' repository (Postgres) and blob presence."""

from __future__ import annotations

from typing import Protocol

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.records.models import Entry, Record, Relation


class RecordRepository(Protocol):
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
        """Creates or updates the record (replace: its entries are exactly these; otherwise they
        are merged into what it holds); returns it (without entries) and whether it is new.
        Refuses, writing nothing, a result over MAX_ENTRIES entries."""
        ...

    async def get(self, namespace_id: int, uuid: str, *, with_entries: bool) -> Record | None: ...

    async def delete(self, namespace_id: int, uuid: str) -> bool: ...

    async def page(
        self, namespace_id: int, prefix: str, metadata: dict[str, str], after: str | None, limit: int
    ) -> list[Record]: ...

    async def neighbours(self, namespace_id: int, uuids: list[str], limit: int) -> list[str]:
        """Records related to any of `uuids` in either direction, at most `limit` of them."""
        ...


class BlobPresence(Protocol):
    async def missing_in(self, namespace_id: int, digests: list[Digest]) -> list[Digest]:
        """The absent digests, in order, without duplicates."""
        ...
