"""What arti's Connection needs from storage (implemented by storage/connection/)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from artimeta_server.domain.connection.lineage import GraphLineage
from artimeta_server.domain.connection.models import (
    BodyRow,
    DocumentRow,
    InputFilter,
    SnapshotTag,
    SnapshotTagMove,
    StoredPartitions,
)


class SnapshotTagUnit(Protocol):
    """One write of one snapshot tag, inside a transaction; the domain decides between the
    read and the write (domain/connection/snapshot_tags.py)."""

    async def current(self) -> int | None:
        """Where the tag points now (None: absent), locking it until the unit ends."""
        ...

    async def create(self, snapshot_fingerprint: int, actor: str) -> SnapshotTag | None:
        """Creates the tag; None when a concurrent writer created it first. A snapshot that was
        never written raises snapshot_tags.snapshot_not_written."""
        ...

    async def move(self, snapshot_fingerprint: int, actor: str) -> SnapshotTag:
        """Points the locked tag elsewhere (same error as `create`)."""
        ...

    async def record_move(self, previous: int | None, snapshot_fingerprint: int, actor: str) -> None:
        """Appends the move to the tag's history and announces the change to every replica."""
        ...


class ConnectionRepository(Protocol):
    async def insert_graph(self, namespace_id: int, rec: DocumentRow, lineage: GraphLineage | None = None) -> bool:
        """Inserts unless (name, fingerprint) exists; True if inserted. In the same transaction,
        records `lineage` unless the graph has one already."""
        ...

    async def get_graph_lineage(
        self, namespace_id: int, name: str, fingerprint: int
    ) -> tuple[bool, GraphLineage | None]:
        """(whether the graph exists, its lineage if one was recorded)."""
        ...

    async def get_graph(self, namespace_id: int, name: str, fingerprint: int) -> DocumentRow | None: ...

    async def insert_snapshot(self, namespace_id: int, rec: DocumentRow) -> bool: ...

    async def get_snapshot(self, namespace_id: int, name: str, fingerprint: int) -> DocumentRow | None: ...

    async def get_tags(self, namespace_id: int, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SnapshotTag]:
        """The tags of `keys` ((name, tag) pairs) that exist, in one read."""
        ...

    def snapshot_tag_unit(self, namespace_id: int, name: str, tag: str) -> AbstractAsyncContextManager[SnapshotTagUnit]:
        """A transaction writing one tag: commits when the block ends, rolls back if it raises."""
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
    ) -> list[DocumentRow]: ...

    async def list_snapshots(
        self, namespace_id: int, name: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, DocumentRow]]: ...

    async def list_tags(
        self, namespace_id: int, name: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[SnapshotTag]: ...

    async def tag_history(
        self, namespace_id: int, name: str, tag: str, before_seq: int | None, limit: int
    ) -> list[SnapshotTagMove]: ...
