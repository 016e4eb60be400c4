"""What the wire makes of a cached graph or snapshot (its reply), made once per cached record.

Graphs and snapshots never change, and a hot read gets the very record object the domain's
cache holds, so the reply built for it can be reused as long as that object is the one cached.
An entry is keyed by the maker, the record's identity and whatever else the rendering depends on, keeps
the record alive so the identity is not reused while the entry lives, and counts twice the
record's footprint (the record and the copy of its document in the reply): a rendering too
large for the budget is made for that read alone."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TypeVar, cast

from artimeta_server.domain.connection.models import Graph, Snapshot, SnapshotTag
from artimeta_server.domain.lru import BoundedCache

R = TypeVar("R")


def footprint(record: Graph | Snapshot) -> int:
    """About the bytes a cached record holds."""
    return len(record.document) + len(record.name) + sum(len(r) for r in record.code_refs)


class Renderings:
    def __init__(self, *, max_bytes: int) -> None:
        self.cache: BoundedCache[tuple[object, object]] = BoundedCache(max_bytes=max_bytes)

    def _made(self, key: Hashable, record: Graph | Snapshot) -> object | None:
        hit = self.cache.get(key)
        return hit[1] if hit is not None and hit[0] is record else None

    def _keep(self, key: Hashable, record: Graph | Snapshot, made: R) -> R:
        self.cache.put(key, (record, made), 2 * footprint(record))
        return made

    # One method per kind of record, with no closure: these run on every hot read.

    def graph(self, graph: Graph, make: Callable[[Graph], R]) -> R:
        key = (make, id(graph))
        hit = self._made(key, graph)
        return cast(R, hit) if hit is not None else self._keep(key, graph, make(graph))

    def snapshot(self, snap: Snapshot, make: Callable[[Snapshot], R]) -> R:
        key = (make, id(snap))
        hit = self._made(key, snap)
        return cast(R, hit) if hit is not None else self._keep(key, snap, make(snap))

    def snapshot_tag(self, tag: SnapshotTag, snap: Snapshot, make: Callable[[SnapshotTag, Snapshot], R]) -> R:
        # An equal tag pointing at the same cached snapshot renders the same, so it is reused.
        key = (make, id(snap), tag)
        hit = self._made(key, snap)
        return cast(R, hit) if hit is not None else self._keep(key, snap, make(tag, snap))
