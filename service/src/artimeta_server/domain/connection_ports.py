"""What arti's Connection needs from storage (implemented by storage/connection.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from artimeta_server.domain.connection_models import (
    InputFilter,
    StoredPartitions,
    StoredRecord,
    TagMove,
    TagRecord,
    TagWrite,
)
from artimeta_server.domain.lineage import GraphLineage

# A partition as storage returns it: inline body, or (hash, size) of a body in the blob store.
BodyRow = tuple[bytes | None, str | None, int]


class ConnectionRepository(Protocol):
    async def insert_graph(self, namespace_id: int, rec: StoredRecord, lineage: GraphLineage | None = None) -> bool:
        """Inserts unless (name, fingerprint) exists; True if inserted. In the same transaction,
        records `lineage` unless the graph has one already."""
        ...

    async def get_graph_lineage(
        self, namespace_id: int, name: str, fingerprint: int
    ) -> tuple[bool, GraphLineage | None]:
        """(whether the graph exists, its lineage if one was recorded)."""
        ...

    async def get_graph(self, namespace_id: int, name: str, fingerprint: int) -> StoredRecord | None: ...

    async def insert_snapshot(self, namespace_id: int, rec: StoredRecord) -> bool: ...

    async def get_snapshot(self, namespace_id: int, name: str, fingerprint: int) -> StoredRecord | None: ...

    async def get_tag(self, namespace_id: int, name: str, tag: str) -> TagRecord | None: ...

    async def write_tag(
        self,
        namespace_id: int,
        name: str,
        tag: str,
        snapshot_fingerprint: int,
        *,
        overwrite: bool,
        expected: int | None,
        actor: str,
    ) -> TagWrite:
        """Creates or moves a tag and records the move; AlreadyExists / Aborted / NotFound."""
        ...

    async def add_storage_partitions(
        self, namespace_id: int, storage_fingerprint: int, chunks: AsyncIterator[StoredPartitions]
    ) -> int:
        """Set union of every chunk, in one transaction; returns how many rows were new."""
        ...

    async def add_snapshot_partitions(
        self,
        namespace_id: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        chunks: AsyncIterator[StoredPartitions],
    ) -> int: ...

    async def add_artifact_and_snapshot_partitions(
        self,
        namespace_id: int,
        storage_fingerprint: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        chunks: AsyncIterator[StoredPartitions],
    ) -> tuple[int, int]:
        """Both inserts in one transaction."""
        ...

    def storage_partitions(
        self, namespace_id: int, storage_fingerprint: int, wanted: InputFilter | None, chunk: int
    ) -> AsyncIterator[list[BodyRow]]: ...

    def snapshot_partitions(
        self, namespace_id: int, name: str, snapshot_fingerprint: int, artifact_key: str, chunk: int
    ) -> AsyncIterator[list[BodyRow]]: ...

    async def snapshot_partitions_page(
        self,
        namespace_id: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        after_ident: bytes | None,
        limit: int,
    ) -> list[tuple[bytes, BodyRow]]:
        """Up to `limit` (ident, body) rows with ident > after_ident, in ident order."""
        ...

    async def list_graphs(
        self, namespace_id: int, name: str | None, after: tuple[str, int] | None, limit: int
    ) -> list[StoredRecord]: ...

    async def list_snapshots(
        self, namespace_id: int, name: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, StoredRecord]]: ...

    async def list_tags(
        self, namespace_id: int, name: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[TagRecord]: ...

    async def tag_history(
        self, namespace_id: int, name: str, tag: str, before_seq: int | None, limit: int
    ) -> list[TagMove]: ...
