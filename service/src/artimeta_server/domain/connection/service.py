"""arti's Connection as use cases: graphs, snapshots and tags of one namespace (its partitions:
partition_service.py).

Graphs and snapshots never change once written (their fingerprint is their content), so reads of
them are served from a bounded in-process cache scoped by namespace id, and so are the replies
made of them (renderings.py); tags move, so they are read from the database unless the change
feed keeps them fresh in memory (domain/fresh.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from artimeta_server.domain import validation
from artimeta_server.domain.connection.coalescer import ReadCoalescer
from artimeta_server.domain.connection.documents import Documents
from artimeta_server.domain.connection.fields import MAX_ACTOR, MAX_FORMAT, code_refs, graph_name, tag_name
from artimeta_server.domain.connection.lineage import GraphLineage
from artimeta_server.domain.connection.lineage import check as check_lineage
from artimeta_server.domain.connection.models import (
    DocumentRow,
    Graph,
    Snapshot,
    SnapshotTag,
    SnapshotTagMove,
    SnapshotTagWritten,
    graph_of,
    snapshot_of,
)
from artimeta_server.domain.connection.partition_bodies import CHUNK_BYTES, CHUNK_ROWS
from artimeta_server.domain.connection.partition_service import PartitionService
from artimeta_server.domain.connection.ports import ConnectionRepository
from artimeta_server.domain.connection.renderings import Renderings, footprint
from artimeta_server.domain.connection.snapshot_tags import check_write, tag_not_found
from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.fresh import FreshCache, tag_key
from artimeta_server.domain.lru import BoundedCache
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.pagination import Page, decode_token, encode_token, page_size
from artimeta_server.domain.reasons import Reason

R = TypeVar("R")


def _graph_missing(name: str, fingerprint: int) -> NotFound:
    return NotFound(
        f"no graph {name!r} with fingerprint {fingerprint}",
        reason=Reason.GRAPH_NOT_FOUND,
        metadata={"name": name, "fingerprint": str(fingerprint)},
    )


class Connections:
    def __init__(
        self,
        repo: ConnectionRepository,
        namespaces: Namespaces,
        documents: Documents,
        *,
        fresh: FreshCache[object],
        cache_bytes: int = 64 * 1024 * 1024,
        rendered_bytes: int = 64 * 1024 * 1024,
        chunk_rows: int = CHUNK_ROWS,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self._repo = repo
        self._ns = namespaces
        self._docs = documents
        self._fresh = fresh
        self.cache: BoundedCache[Graph | Snapshot] = BoundedCache(max_bytes=cache_bytes)
        self.renderings = Renderings(max_bytes=rendered_bytes)
        # Concurrent reads of tags that are not in memory share one query.
        self._tag_reads: ReadCoalescer[tuple[str, str], SnapshotTag] = ReadCoalescer(repo.get_tags)
        self.partitions = PartitionService(repo, namespaces, documents, chunk_rows=chunk_rows, chunk_bytes=chunk_bytes)

    # Graphs

    async def write_graph(self, namespace: str, graph: Graph, lineage: GraphLineage | None = None) -> bool:
        graph_name(graph.name)
        validation.text(graph.document_format, field="graph.document_format", max_len=MAX_FORMAT)
        refs = code_refs(graph.code_refs)
        if lineage is not None:
            check_lineage(lineage)
        ns = await self._ns.resolve(namespace)
        stored = await self._docs.store(ns, graph.document, field="graph.document")
        return await self._repo.insert_graph(
            ns,
            DocumentRow(
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
            raise _graph_missing(name, fingerprint)
        return lineage

    async def read_graph(self, namespace: str, name: str, fingerprint: int) -> Graph:
        graph_name(name)
        ns = await self._ns.resolve(namespace)
        key = (ns, "g", name, fingerprint)
        hit = self.cache.get(key)
        if isinstance(hit, Graph):
            return hit
        row = await self._repo.get_graph(ns, name, fingerprint)
        if row is None:
            raise _graph_missing(name, fingerprint)
        document = await self._docs.load(ns, row.document)
        graph = graph_of(row, document)
        self.cache.put(key, graph, footprint(graph))
        return graph

    async def render_graph(self, namespace: str, name: str, fingerprint: int, make: Callable[[Graph], R]) -> R:
        """What `make` makes of the graph, made once per cached graph."""
        return self.renderings.graph(await self.read_graph(namespace, name, fingerprint), make)

    # Snapshots

    async def write_snapshot(self, namespace: str, snap: Snapshot) -> bool:
        graph_name(snap.name)
        validation.text(snap.document_format, field="snapshot.document_format", max_len=MAX_FORMAT)
        refs = code_refs(snap.code_refs)
        ns = await self._ns.resolve(namespace)
        stored = await self._docs.store(ns, snap.document, field="snapshot.document")
        return await self._repo.insert_snapshot(
            ns,
            DocumentRow(
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

    async def read_snapshot(self, namespace: str, name: str, fingerprint: int) -> Snapshot:
        graph_name(name)
        ns = await self._ns.resolve(namespace)
        return await self._snapshot(ns, name, fingerprint)

    async def render_snapshot(self, namespace: str, name: str, fingerprint: int, make: Callable[[Snapshot], R]) -> R:
        """What `make` makes of the snapshot, made once per cached snapshot."""
        return self.renderings.snapshot(await self.read_snapshot(namespace, name, fingerprint), make)

    async def _snapshot(self, ns: int, name: str, fingerprint: int) -> Snapshot:
        key = (ns, "s", name, fingerprint)
        hit = self.cache.get(key)
        if isinstance(hit, Snapshot):
            return hit
        row = await self._repo.get_snapshot(ns, name, fingerprint)
        if row is None:
            raise NotFound(
                f"no snapshot of graph {name!r} with fingerprint {fingerprint}",
                reason=Reason.SNAPSHOT_NOT_FOUND,
                metadata={"name": name, "fingerprint": str(fingerprint)},
            )
        document = await self._docs.load(ns, row.document)
        snap = snapshot_of(row, document)
        self.cache.put(key, snap, footprint(snap))
        return snap

    # Tags

    async def read_snapshot_tag(
        self, namespace: str, name: str, tag: str, *, strong: bool = False
    ) -> tuple[SnapshotTag, Snapshot]:
        """The tag and its snapshot; the tag from memory unless `strong` (then from the database)."""
        ns = await self._ns.resolve(namespace, strong=strong)
        key = tag_key(ns, name, tag)
        found = None if strong else self._fresh.get(key)
        if isinstance(found, SnapshotTag):
            return found, await self._snapshot(ns, name, found.snapshot_fingerprint)
        graph_name(name)
        tag_name(tag)
        ticket = self._fresh.ticket()
        found = await self._tag_reads.read(ns, (name, tag))
        if found is None:
            raise tag_not_found(name, tag)
        self._fresh.put(key, found, 64 + len(name) + len(tag) + len(found.actor), ticket)
        return found, await self._snapshot(ns, name, found.snapshot_fingerprint)

    async def render_snapshot_tag(
        self,
        namespace: str,
        name: str,
        tag: str,
        make: Callable[[SnapshotTag, Snapshot], R],
        *,
        strong: bool = False,
    ) -> R:
        """What `make` makes of the tag and its snapshot, made once per (equal tag, cached snapshot)."""
        found, snap = await self.read_snapshot_tag(namespace, name, tag, strong=strong)
        return self.renderings.snapshot_tag(found, snap, make)

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
    ) -> SnapshotTagWritten:
        """Creates or moves a tag (snapshot_tags.py says when it may) and records the move."""
        graph_name(name)
        tag_name(tag)
        validation.text(actor, field="actor", max_len=MAX_ACTOR)
        ns = await self._ns.resolve(namespace)
        try:
            async with self._repo.snapshot_tag_unit(ns, name, tag) as unit:
                while True:
                    current = await unit.current()
                    check_write(name, tag, current, overwrite=overwrite, expected=expected)
                    if current is None:
                        written = await unit.create(snapshot_fingerprint, actor)
                        if written is None:
                            continue  # created meanwhile: lock it and decide again
                    else:
                        written = await unit.move(snapshot_fingerprint, actor)
                    await unit.record_move(current, snapshot_fingerprint, actor)
                    return SnapshotTagWritten(written, current)
        finally:
            # The other replicas hear of it at commit; this one forgets before it replies. Also
            # after a failure: the write may have committed before the reply was lost.
            self._fresh.changed((tag_key(ns, name, tag),))

    # Lists

    async def list_graphs(self, namespace: str, name: str, size: int, token: str) -> Page[DocumentRow]:
        if name:
            graph_name(name)
        limit = page_size(size)
        after = decode_token("graphs", token, (str, int))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.list_graphs(
            ns, name or None, None if after is None else (str(after[0]), int(after[1])), limit + 1
        )
        nxt = encode_token("graphs", [rows[limit - 1].name, rows[limit - 1].fingerprint]) if len(rows) > limit else ""
        return Page(rows[:limit], nxt)

    async def list_snapshots(self, namespace: str, name: str, size: int, token: str) -> Page[DocumentRow]:
        graph_name(name)
        limit = page_size(size)
        after = decode_token("snapshots", token, (int,))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.list_snapshots(ns, name, None if after is None else int(after[0]), limit + 1)
        nxt = encode_token("snapshots", [rows[limit - 1][0]]) if len(rows) > limit else ""
        return Page([r for _, r in rows[:limit]], nxt)

    async def list_snapshot_tags(self, namespace: str, name: str, size: int, token: str) -> Page[SnapshotTag]:
        if name:
            graph_name(name)
        limit = page_size(size)
        after = decode_token("tags", token, (str, str))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.list_tags(
            ns, name or None, None if after is None else (str(after[0]), str(after[1])), limit + 1
        )
        nxt = encode_token("tags", [rows[limit - 1].name, rows[limit - 1].tag]) if len(rows) > limit else ""
        return Page(rows[:limit], nxt)

    async def tag_history(self, namespace: str, name: str, tag: str, size: int, token: str) -> Page[SnapshotTagMove]:
        graph_name(name)
        tag_name(tag)
        limit = page_size(size)
        after = decode_token("moves", token, (int,))
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.tag_history(ns, name, tag, None if after is None else int(after[0]), limit + 1)
        nxt = encode_token("moves", [rows[limit - 1].sequence]) if len(rows) > limit else ""
        return Page(rows[:limit], nxt)
