"""arti's Connection as use cases: graphs, snapshots, tags and partitions of one namespace.

Graphs and snapshots never change once written (their fingerprint is their content), so reads of
them are served from a bounded in-process cache scoped by namespace id; tags move, so they are
always read from the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from artimeta_server.domain import validation
from artimeta_server.domain.connection_models import (
    GraphRecord,
    InputFilter,
    Page,
    PartitionBatch,
    SnapshotRecord,
    StoredPartitions,
    StoredRecord,
    TagMove,
    TagRecord,
    TagWrite,
)
from artimeta_server.domain.connection_ports import BodyRow, ConnectionRepository
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.documents import Documents
from artimeta_server.domain.errors import InvalidArgument, NotFound
from artimeta_server.domain.fresh import FreshCache, tag_key
from artimeta_server.domain.lineage import GraphLineage
from artimeta_server.domain.lineage import check as check_lineage
from artimeta_server.domain.lru import BoundedCache
from artimeta_server.domain.models import StoredDocument
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.pagination import decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason

MAX_NAME = 1024
MAX_TAG = 255
MAX_FORMAT = 255
MAX_ACTOR = 255
MAX_CODE_REF = 1024
MAX_CODE_REFS = 10_000
# Rows per streamed chunk, and a byte budget that closes a chunk early for large partitions.
CHUNK_ROWS = 5_000
CHUNK_BYTES = 2 * 1024 * 1024


def graph_name(name: str, field: str = "name") -> str:
    return validation.text(name, field=field, max_len=MAX_NAME, required=True)


def _tag_name(tag: str) -> str:
    return validation.text(tag, field="tag", max_len=MAX_TAG, required=True)


def _position(kind: str, token: str, types: tuple[type, ...]) -> list[Any] | None:
    """The keyset position of a page token, checked to be one this list could have returned."""
    return decode_token(kind, token, types)


def _code_refs(refs: Sequence[str]) -> tuple[str, ...]:
    if len(refs) > MAX_CODE_REFS:
        raise InvalidArgument(
            f"{len(refs)} code_refs; at most {MAX_CODE_REFS} are allowed",
            reason=Reason.FIELD_TOO_LONG,
            metadata={"field": "code_refs"},
        )
    for ref in refs:
        validation.text(ref, field="code_refs", max_len=MAX_CODE_REF, required=True)
    return tuple(refs)


def footprint(record: GraphRecord | SnapshotRecord) -> int:
    """About the bytes a cached record holds."""
    return len(record.document) + len(record.name) + sum(len(r) for r in record.code_refs)


class Connections:
    def __init__(
        self,
        repo: ConnectionRepository,
        namespaces: Namespaces,
        documents: Documents,
        *,
        fresh: FreshCache[object],
        cache_bytes: int = 64 * 1024 * 1024,
        chunk_rows: int = CHUNK_ROWS,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._repo = repo
        self._ns = namespaces
        self._docs = documents
        self._fresh = fresh
        self.cache: BoundedCache[GraphRecord | SnapshotRecord] = BoundedCache(max_bytes=cache_bytes)
        self._chunk_rows = chunk_rows
        self._chunk_bytes = chunk_bytes

    # Graphs

    async def write_graph(self, namespace: str, graph: GraphRecord, lineage: GraphLineage | None = None) -> bool:
        graph_name(graph.name)
        validation.text(graph.document_format, field="graph.document_format", max_len=MAX_FORMAT)
        refs = _code_refs(graph.code_refs)
        if lineage is not None:
            check_lineage(lineage)
        ns = await self._ns.resolve(namespace)
        stored = await self._docs.store(ns, graph.document, field="graph.document")
        return await self._repo.insert_graph(
            ns,
            StoredRecord(
                graph.name, graph.fingerprint, 0, 0, stored, len(graph.document), graph.document_format, refs, None
            ),
            lineage,
        )

    async def graph_lineage(self, namespace: str, name: str, fingerprint: int) -> GraphLineage | None:
        """The lineage recorded with a graph; None when it was written without one."""
        graph_name(name)
        ns = await self._ns.resolve(namespace)
        exists, lineage = await self._repo.get_graph_lineage(ns, name, fingerprint)
        if not exists:
            raise NotFound(
                f"no graph {name!r} with fingerprint {fingerprint}",
                reason=Reason.GRAPH_NOT_FOUND,
                metadata={"name": name, "fingerprint": str(fingerprint)},
            )
        return lineage

    async def read_graph(self, namespace: str, name: str, fingerprint: int) -> GraphRecord:
        graph_name(name)
        ns = await self._ns.resolve(namespace)
        key = (ns, "g", name, fingerprint)
        hit = self.cache.get(key)
        if isinstance(hit, GraphRecord):
            return hit
        row = await self._repo.get_graph(ns, name, fingerprint)
        if row is None:
            raise NotFound(
                f"no graph {name!r} with fingerprint {fingerprint}",
                reason=Reason.GRAPH_NOT_FOUND,
                metadata={"name": name, "fingerprint": str(fingerprint)},
            )
        document = await self._docs.load(ns, row.document)
        graph = GraphRecord(
            row.name, row.fingerprint, document, row.document_format, row.code_refs, row.create_time, len(document)
        )
        self.cache.put(key, graph, footprint(graph))
        return graph

    # Snapshots

    async def write_snapshot(self, namespace: str, snap: SnapshotRecord) -> bool:
        graph_name(snap.name)
        validation.text(snap.document_format, field="snapshot.document_format", max_len=MAX_FORMAT)
        refs = _code_refs(snap.code_refs)
        ns = await self._ns.resolve(namespace)
        stored = await self._docs.store(ns, snap.document, field="snapshot.document")
        return await self._repo.insert_snapshot(
            ns,
            StoredRecord(
                snap.name,
                snap.fingerprint,
                snap.snapshot_id,
                snap.graph_fingerprint,
                stored,
                len(snap.document),
                snap.document_format,
                refs,
                None,
            ),
        )

    async def read_snapshot(self, namespace: str, name: str, fingerprint: int) -> SnapshotRecord:
        graph_name(name)
        ns = await self._ns.resolve(namespace)
        return await self._snapshot(ns, name, fingerprint)

    async def _snapshot(self, ns: int, name: str, fingerprint: int) -> SnapshotRecord:
        key = (ns, "s", name, fingerprint)
        hit = self.cache.get(key)
        if isinstance(hit, SnapshotRecord):
            return hit
        row = await self._repo.get_snapshot(ns, name, fingerprint)
        if row is None:
            raise NotFound(
                f"no snapshot of graph {name!r} with fingerprint {fingerprint}",
                reason=Reason.SNAPSHOT_NOT_FOUND,
                metadata={"name": name, "fingerprint": str(fingerprint)},
            )
        document = await self._docs.load(ns, row.document)
        snap = SnapshotRecord(
            row.name,
            row.fingerprint,
            row.snapshot_id,
            row.graph_fingerprint,
            document,
            row.document_format,
            row.code_refs,
            row.create_time,
            len(document),
        )
        self.cache.put(key, snap, footprint(snap))
        return snap

    # Tags

    async def read_snapshot_tag(
        self, namespace: str, name: str, tag: str, *, strong: bool = False
    ) -> tuple[TagRecord, SnapshotRecord]:
        """The tag and its snapshot; the tag from memory unless `strong` (then from the database)."""
        ns = await self._ns.resolve(namespace, strong=strong)
        key = tag_key(ns, name, tag)
        found = None if strong else self._fresh.get(key)
        if isinstance(found, TagRecord):
            return found, await self._snapshot(ns, name, found.snapshot_fingerprint)
        graph_name(name)
        _tag_name(tag)
        ticket = self._fresh.ticket()
        found = await self._repo.get_tag(ns, name, tag)
        if found is not None:
            self._fresh.put(key, found, 64 + len(name) + len(tag) + len(found.actor), ticket)
        if found is None:
            raise NotFound(
                f"No known `{tag}` tag for GraphSnapshot `{name}`",
                reason=Reason.TAG_NOT_FOUND,
                metadata={"name": name, "tag": tag},
            )
        return found, await self._snapshot(ns, name, found.snapshot_fingerprint)

    async def write_snapshot_tag(
        self,
        namespace: str,
        name: str,
        tag: str,
        snapshot_fingerprint: int,
        *,
        overwrite: bool,
        expected: int | None,
        actor: str,
    ) -> TagWrite:
        graph_name(name)
        _tag_name(tag)
        validation.text(actor, field="actor", max_len=MAX_ACTOR)
        ns = await self._ns.resolve(namespace)
        try:
            return await self._repo.write_tag(
                ns,
                name,
                tag,
                snapshot_fingerprint,
                overwrite=overwrite or expected is not None,
                expected=expected,
                actor=actor,
            )
        finally:
            # The other replicas hear of it at commit; this one forgets before it replies. Also
            # after a failure: the write may have committed before the reply was lost.
            self._fresh.changed((tag_key(ns, name, tag),))

    # Partitions

    async def _store(self, ns: int, batch: PartitionBatch) -> StoredPartitions:
        limit = self._docs.inline_limit
        inline: list[bytes | None] = list(batch.bodies)
        hashes: list[str | None] = [None] * len(batch)
        sizes = [len(b) for b in batch.bodies]
        for i, size in enumerate(sizes):
            if size > limit:
                stored = await self._docs.store(ns, batch.bodies[i], field=f"partitions[{i}]")
                if stored.digest is not None:
                    inline[i] = None
                    hashes[i] = stored.digest.hash
        return StoredPartitions(batch.idents, batch.keys, batch.input_fingerprints, inline, hashes, sizes)

    async def _stored(self, ns: int, batches: Iterable[PartitionBatch]) -> AsyncIterator[StoredPartitions]:
        # Batches are computed (validated, canonicalized: CPU work) in a worker thread, so the event
        # loop keeps serving other calls and keeps feeding Postgres the previous chunk meanwhile.
        chunks = iter(batches)
        while (batch := await asyncio.to_thread(next, chunks, None)) is not None:
            if len(batch):
                yield await self._store(ns, batch)

    async def write_artifact_partitions(
        self, namespace: str, storage_fingerprint: int, batches: Iterable[PartitionBatch]
    ) -> int:
        """Adds partitions to a storage in one transaction; `batches` are consumed one at a time."""
        ns = await self._ns.resolve(namespace)
        return await self._repo.add_storage_partitions(ns, storage_fingerprint, self._stored(ns, batches))

    async def write_snapshot_partitions(
        self,
        namespace: str,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        batches: Iterable[PartitionBatch],
    ) -> int:
        graph_name(name)
        validation.text(artifact_key, field="artifact_key", max_len=MAX_NAME, required=True)
        ns = await self._ns.resolve(namespace)
        return await self._repo.add_snapshot_partitions(
            ns, name, snapshot_fingerprint, artifact_key, self._stored(ns, batches)
        )

    async def write_artifact_and_graph_partitions(
        self,
        namespace: str,
        name: str,
        snapshot_fingerprint: int,
        artifact_key: str,
        storage_fingerprint: int,
        batches: Iterable[PartitionBatch],
    ) -> tuple[int, int]:
        graph_name(name)
        validation.text(artifact_key, field="artifact_key", max_len=MAX_NAME, required=True)
        ns = await self._ns.resolve(namespace)
        return await self._repo.add_artifact_and_snapshot_partitions(
            ns, storage_fingerprint, name, snapshot_fingerprint, artifact_key, self._stored(ns, batches)
        )

    async def read_artifact_partitions(
        self, namespace: str, storage_fingerprint: int, wanted: InputFilter | None
    ) -> AsyncIterator[list[bytes]]:
        """Partition bodies in chunks. `wanted` None or empty: every partition of the storage."""
        ns = await self._ns.resolve(namespace)
        if wanted is not None and not wanted.keys:
            wanted = None
        rows = self._repo.storage_partitions(ns, storage_fingerprint, wanted, self._chunk_rows)
        async for chunk in self._bodies(ns, rows):
            yield chunk

    async def read_snapshot_partitions(
        self, namespace: str, name: str, snapshot_fingerprint: int, artifact_key: str
    ) -> AsyncIterator[list[bytes]]:
        graph_name(name)
        validation.text(artifact_key, field="artifact_key", max_len=MAX_NAME, required=True)
        ns = await self._ns.resolve(namespace)
        rows = self._repo.snapshot_partitions(ns, name, snapshot_fingerprint, artifact_key, self._chunk_rows)
        async for chunk in self._bodies(ns, rows):
            yield chunk

    async def list_snapshot_partitions(
        self, namespace: str, name: str, snapshot_fingerprint: int, artifact_key: str, size: int, token: str
    ) -> Page[bytes]:
        """One page of the partition bodies linked to an artifact of a snapshot, in ident order."""
        graph_name(name)
        validation.text(artifact_key, field="artifact_key", max_len=MAX_NAME, required=True)
        limit = page_size(size)
        after = _position("partitions", token, (str,))
        try:
            after_ident = None if after is None else bytes.fromhex(str(after[0]))
        except ValueError:
            after_ident = b""
        if after_ident is not None and len(after_ident) != 16:
            raise InvalidArgument(
                "page_token is not one this list returned",
                reason=Reason.INVALID_PAGE_TOKEN,
                metadata={"field": "page_token"},
            )
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.snapshot_partitions_page(
            ns, name, snapshot_fingerprint, artifact_key, after_ident, limit + 1
        )
        nxt = encode_token("partitions", [rows[limit - 1][0].hex()]) if len(rows) > limit else ""
        bodies: list[bytes] = []
        for _, (body, body_hash, body_size) in rows[:limit]:
            if body is None:
                assert body_hash is not None
                body = await self._docs.load(ns, StoredDocument(None, Digest(body_hash, body_size)))
            bodies.append(body)
        return Page(bodies, nxt)

    async def _bodies(self, ns: int, chunks: AsyncIterator[list[BodyRow]]) -> AsyncIterator[list[bytes]]:
        out: list[bytes] = []
        size = 0
        async for rows in chunks:
            for body, body_hash, body_size in rows:
                if body is None:
                    assert body_hash is not None
                    body = await self._docs.load(ns, StoredDocument(None, Digest(body_hash, body_size)))
                out.append(body)
                size += len(body)
                if size >= self._chunk_bytes or len(out) >= self._chunk_rows:
                    yield out
                    out, size = [], 0
        if out:
            yield out

    # Lists

    async def list_graphs(self, namespace: str, name: str, size: int, token: str) -> Page[StoredRecord]:
        if name:
            graph_name(name)
        limit = page_size(size)
        after = _position("graphs", token, (str, int))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.list_graphs(
            ns, name or None, None if after is None else (str(after[0]), int(after[1])), limit + 1
        )
        nxt = encode_token("graphs", [rows[limit - 1].name, rows[limit - 1].fingerprint]) if len(rows) > limit else ""
        return Page(rows[:limit], nxt)

    async def list_snapshots(self, namespace: str, name: str, size: int, token: str) -> Page[StoredRecord]:
        graph_name(name)
        limit = page_size(size)
        after = _position("snapshots", token, (int,))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.list_snapshots(ns, name, None if after is None else int(after[0]), limit + 1)
        nxt = encode_token("snapshots", [rows[limit - 1][0]]) if len(rows) > limit else ""
        return Page([r for _, r in rows[:limit]], nxt)

    async def list_snapshot_tags(self, namespace: str, name: str, size: int, token: str) -> Page[TagRecord]:
        if name:
            graph_name(name)
        limit = page_size(size)
        after = _position("tags", token, (str, str))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.list_tags(
            ns, name or None, None if after is None else (str(after[0]), str(after[1])), limit + 1
        )
        nxt = encode_token("tags", [rows[limit - 1].name, rows[limit - 1].tag]) if len(rows) > limit else ""
        return Page(rows[:limit], nxt)

    async def tag_history(self, namespace: str, name: str, tag: str, size: int, token: str) -> Page[TagMove]:
        graph_name(name)
        _tag_name(tag)
        limit = page_size(size)
        after = _position("moves", token, (int,))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.tag_history(ns, name, tag, None if after is None else int(after[0]), limit + 1)
        nxt = encode_token("moves", [rows[limit - 1].sequence]) if len(rows) > limit else ""
        return Page(rows[:limit], nxt)
