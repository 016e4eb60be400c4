"""In-memory ports of arti's Connection: what storage/connection/ does, kept in dicts."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import cast

from artimeta_server.domain.blobs.ports import BlobStore
from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.connection.lineage import GraphLineage
from artimeta_server.domain.connection.models import (
    BodyRow,
    DocumentRow,
    InputFilter,
    SnapshotTag,
    SnapshotTagMove,
    StoredPartitions,
)
from artimeta_server.domain.connection.service import Connections
from artimeta_server.domain.connection.snapshot_tags import snapshot_not_written
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.fresh import FreshCache
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.reasons import Reason

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeNamespaces:
    """Namespaces.resolve over a fixed set of names."""

    def __init__(self, *names: str) -> None:
        self.ids = {name: i for i, name in enumerate(names, 1)}

    async def resolve(self, name: str, *, strong: bool = False) -> int:
        if name not in self.ids:
            raise NotFound(f"no namespace {name!r}", reason=Reason.NAMESPACE_NOT_FOUND, metadata={"namespace": name})
        return self.ids[name]


class FakeBlobs:
    def __init__(self) -> None:
        self.data: dict[tuple[int, str], bytes] = {}

    async def put(self, namespace_id: int, data: bytes) -> Digest:
        digest = Digest(f"h{len(data)}-{hash(data) & 0xFFFF}", len(data))
        self.data[(namespace_id, digest.hash)] = data
        return digest

    async def get(self, namespace_id: int, digest: Digest) -> bytes:
        return self.data[(namespace_id, digest.hash)]


class FakeSnapshotTagUnit:
    def __init__(self, repo: FakeConnectionRepository, key: tuple[int, str, str]) -> None:
        self._repo = repo
        self._key = key
        self.tags: dict[tuple[int, str, str], SnapshotTag] = {}
        self.moves: list[tuple[int, SnapshotTagMove]] = []

    def _tag(self) -> SnapshotTag | None:
        return self.tags.get(self._key, self._repo.tags.get(self._key))

    async def current(self) -> int | None:
        found = self._tag()
        return None if found is None else found.snapshot_fingerprint

    def _check_snapshot(self, fingerprint: int) -> None:
        ns, name, _ = self._key
        if (ns, name, fingerprint) not in self._repo.snapshots:
            raise snapshot_not_written(name, fingerprint)

    async def create(self, snapshot_fingerprint: int, actor: str) -> SnapshotTag | None:
        if self._repo.race is not None:  # another writer creates it between our read and our insert
            self._repo.tags[self._key], self._repo.race = self._repo.race, None
            return None
        self._check_snapshot(snapshot_fingerprint)
        created = SnapshotTag(self._key[1], self._key[2], snapshot_fingerprint, actor, NOW)
        self.tags[self._key] = created
        return created

    async def move(self, snapshot_fingerprint: int, actor: str) -> SnapshotTag:
        self._check_snapshot(snapshot_fingerprint)
        found = self._tag()
        assert found is not None
        moved = replace(found, snapshot_fingerprint=snapshot_fingerprint, actor=actor)
        self.tags[self._key] = moved
        return moved

    async def record_move(self, previous: int | None, snapshot_fingerprint: int, actor: str) -> None:
        ns, name, tag = self._key
        move = SnapshotTagMove(next(self._repo.seq), name, tag, previous, snapshot_fingerprint, actor, NOW)
        self.moves.append((ns, move))


class FakeConnectionRepository:
    def __init__(self) -> None:
        self.graphs: dict[tuple[int, str, int], DocumentRow] = {}
        self.lineages: dict[tuple[int, str, int], GraphLineage] = {}
        self.snapshots: dict[tuple[int, str, int], DocumentRow] = {}
        self.tags: dict[tuple[int, str, str], SnapshotTag] = {}
        self.moves: list[tuple[int, SnapshotTagMove]] = []
        self.storage: dict[tuple[int, int], dict[tuple[int | None, bytes, bytes], BodyRow]] = {}
        self.snapshot_parts: dict[tuple[int, str, int, str], dict[bytes, BodyRow]] = {}
        self.seq = itertools.count(1)
        self.race: SnapshotTag | None = None
        self.reads: list[str] = []
        self.tag_batches: list[list[tuple[str, str]]] = []

    async def insert_graph(self, namespace_id: int, rec: DocumentRow, lineage: GraphLineage | None = None) -> bool:
        key = (namespace_id, rec.name, rec.fingerprint)
        if lineage is not None:
            self.lineages.setdefault(key, lineage)
        if key in self.graphs:
            return False
        self.graphs[key] = replace(rec, create_time=NOW)
        return True

    async def get_graph_lineage(
        self, namespace_id: int, name: str, fingerprint: int
    ) -> tuple[bool, GraphLineage | None]:
        key = (namespace_id, name, fingerprint)
        return key in self.graphs, self.lineages.get(key)

    async def get_graph(self, namespace_id: int, name: str, fingerprint: int) -> DocumentRow | None:
        self.reads.append("graph")
        return self.graphs.get((namespace_id, name, fingerprint))

    async def insert_snapshot(self, namespace_id: int, rec: DocumentRow) -> bool:
        key = (namespace_id, rec.name, rec.fingerprint)
        if key in self.snapshots:
            return False
        self.snapshots[key] = replace(rec, create_time=NOW)
        return True

    async def get_snapshot(self, namespace_id: int, name: str, fingerprint: int) -> DocumentRow | None:
        self.reads.append("snapshot")
        return self.snapshots.get((namespace_id, name, fingerprint))

    async def get_tags(self, namespace_id: int, keys: list[tuple[str, str]]) -> dict[tuple[str, str], SnapshotTag]:
        self.tag_batches.append(list(keys))
        return {k: self.tags[(namespace_id, *k)] for k in keys if (namespace_id, *k) in self.tags}

    @asynccontextmanager
    async def snapshot_tag_unit(self, namespace_id: int, name: str, tag: str) -> AsyncIterator[FakeSnapshotTagUnit]:
        unit = FakeSnapshotTagUnit(self, (namespace_id, name, tag))
        yield unit
        # Committed only when the block ends without an error, like a transaction.
        self.tags.update(unit.tags)
        self.moves.extend(unit.moves)

    async def _add(self, chunks: AsyncIterator[StoredPartitions], storage: bool, snapshot: bool) -> list[int]:
        """Set union of the chunks into the storage's table (keyed by fingerprint, keys and
        identity) and/or the snapshot artifact's (keyed by identity)."""
        assert self._target is not None
        storage_table, snapshot_table = self._target
        added = [0, 0]
        async for parts in chunks:
            for i, ident in enumerate(parts.idents):
                body = (parts.inline_bodies[i], parts.body_hashes[i], parts.body_sizes[i])
                key = (parts.input_fingerprints[i], parts.keys[i], ident)
                if storage and key not in storage_table:
                    storage_table[key] = body
                    added[0] += 1
                if snapshot and ident not in snapshot_table:
                    snapshot_table[ident] = body
                    added[1] += 1
        return added

    _target: tuple[dict[tuple[int | None, bytes, bytes], BodyRow], dict[bytes, BodyRow]] | None = None

    def _aim(self, storage: tuple[int, int] | None, snapshot: tuple[int, str, int, str] | None) -> None:
        self._target = (
            {} if storage is None else self.storage.setdefault(storage, {}),
            {} if snapshot is None else self.snapshot_parts.setdefault(snapshot, {}),
        )

    async def add_storage_partitions(
        self, namespace_id: int, storage_fingerprint: int, chunks: AsyncIterator[StoredPartitions]
    ) -> int:
        self._aim((namespace_id, storage_fingerprint), None)
        return (await self._add(chunks, True, False))[0]

    async def add_snapshot_partitions(
        self,
        namespace_id: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        chunks: AsyncIterator[StoredPartitions],
    ) -> int:
        self._aim(None, (namespace_id, name, snapshot_fingerprint, artifact_key))
        return (await self._add(chunks, False, True))[1]

    async def add_artifact_and_snapshot_partitions(
        self,
        namespace_id: int,
        storage_fingerprint: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        chunks: AsyncIterator[StoredPartitions],
    ) -> tuple[int, int]:
        self._aim((namespace_id, storage_fingerprint), (namespace_id, name, snapshot_fingerprint, artifact_key))
        a, b = await self._add(chunks, True, True)
        return a, b

    async def storage_partitions(
        self, namespace_id: int, storage_fingerprint: int, wanted: InputFilter | None, chunk: int
    ) -> AsyncIterator[list[BodyRow]]:
        table = self.storage.get((namespace_id, storage_fingerprint), {})
        pairs = None if wanted is None else set(zip(wanted.keys, wanted.fingerprints, strict=True))
        rows = [body for (fp, keys, _), body in table.items() if pairs is None or (keys, fp) in pairs]
        for start in range(0, len(rows), chunk):
            yield rows[start : start + chunk]

    async def snapshot_partitions(
        self, namespace_id: int, name: str, snapshot_fingerprint: int, artifact_key: str, chunk: int
    ) -> AsyncIterator[list[BodyRow]]:
        rows = list(self.snapshot_parts.get((namespace_id, name, snapshot_fingerprint, artifact_key), {}).values())
        for start in range(0, len(rows), chunk):
            yield rows[start : start + chunk]

    async def snapshot_partitions_page(
        self,
        namespace_id: int,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        after_ident: bytes | None,
        limit: int,
    ) -> list[tuple[bytes, BodyRow]]:
        table = self.snapshot_parts.get((namespace_id, name, snapshot_fingerprint, artifact_key), {})
        rows = sorted((i, b) for i, b in table.items() if after_ident is None or i > after_ident)
        return rows[:limit]

    async def list_graphs(
        self, namespace_id: int, name: str | None, after: tuple[str, int] | None, limit: int
    ) -> list[DocumentRow]:
        keys = sorted(k[1:] for k in self.graphs if k[0] == namespace_id and (name is None or k[1] == name))
        return [self.graphs[(namespace_id, *k)] for k in keys if after is None or k > after][:limit]

    async def list_snapshots(
        self, namespace_id: int, name: str, before_seq: int | None, limit: int
    ) -> list[tuple[int, DocumentRow]]:
        rows = [r for k, r in self.snapshots.items() if k[0] == namespace_id and k[1] == name]
        numbered = list(reversed(list(enumerate(rows, 1))))
        return [(s, r) for s, r in numbered if before_seq is None or s < before_seq][:limit]

    async def list_tags(
        self, namespace_id: int, name: str | None, after: tuple[str, str] | None, limit: int
    ) -> list[SnapshotTag]:
        keys = sorted(k[1:] for k in self.tags if k[0] == namespace_id and (name is None or k[1] == name))
        return [self.tags[(namespace_id, *k)] for k in keys if after is None or k > after][:limit]

    async def tag_history(
        self, namespace_id: int, name: str, tag: str, before_seq: int | None, limit: int
    ) -> list[SnapshotTagMove]:
        moves = [m for ns, m in reversed(self.moves) if ns == namespace_id and (m.name, m.tag) == (name, tag)]
        return [m for m in moves if before_seq is None or m.sequence < before_seq][:limit]


def connections(
    repo: FakeConnectionRepository | None = None, *, inline_limit: int = 1024, chunk_rows: int = 5_000
) -> tuple[Connections, FakeConnectionRepository, FakeBlobs, FreshCache[object]]:
    """A Connections over fakes, with one namespace: "ns"."""
    repo = repo or FakeConnectionRepository()
    blobs = FakeBlobs()
    fresh: FreshCache[object] = FreshCache(max_bytes=1 << 20, ttl_s=60.0)
    fresh.restored()
    conns = Connections(
        repo,
        cast(Namespaces, FakeNamespaces("ns")),
        Documents(cast(BlobStore, blobs), inline_limit=inline_limit, max_size=1 << 20),
        fresh=fresh,
        chunk_rows=chunk_rows,
    )
    return conns, repo, blobs, fresh
