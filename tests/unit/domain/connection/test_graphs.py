"""Graphs, snapshots and lineage over in-memory ports: validation before any write, the record
cache, and replies made once per cached record."""

from __future__ import annotations

import pytest

from artimeta_server.domain.connection.lineage import (
    EdgeKind,
    GraphLineage,
    LineageArtifact,
    LineageEdge,
    LineageProducer,
)
from artimeta_server.domain.connection.models import Graph, Snapshot, SnapshotTag
from artimeta_server.domain.errors import InvalidArgument, NotFound
from tests.unit.domain.connection.fakes import connections

LINEAGE = GraphLineage(
    (LineageArtifact("a"), LineageArtifact("b")),
    (LineageProducer("p", name="make_b"),),
    (LineageEdge(EdgeKind.INPUT, "a", "p", "x"), LineageEdge(EdgeKind.OUTPUT, "b", "p")),
)


async def test_a_graph_is_written_once_and_read_from_memory_after() -> None:
    conns, repo, _, _ = connections()
    graph = Graph("g", 5, b"{}", "json", ("mod:f",))
    assert await conns.write_graph("ns", graph) is True
    assert await conns.write_graph("ns", graph) is False
    first = await conns.read_graph("ns", "g", 5)
    again = await conns.read_graph("ns", "g", 5)
    assert first is again and first.document == b"{}" and first.document_size == 2
    assert repo.reads == ["graph"]


async def test_large_documents_live_in_the_blob_store() -> None:
    conns, repo, blobs, _ = connections(inline_limit=4)
    await conns.write_snapshot("ns", Snapshot("g", 6, 1, 5, b"x" * 50, "json", ()))
    row = repo.snapshots[(1, "g", 6)]
    assert row.document.inline is None and row.document.digest is not None and len(blobs.data) == 1
    assert (await conns.read_snapshot("ns", "g", 6)).document == b"x" * 50


async def test_unknown_graphs_and_snapshots_are_not_found() -> None:
    conns, _, _, _ = connections()
    with pytest.raises(NotFound) as err:
        await conns.read_graph("ns", "g", 1)
    assert err.value.reason == "GRAPH_NOT_FOUND"
    with pytest.raises(NotFound) as err:
        await conns.read_snapshot("ns", "g", 1)
    assert err.value.reason == "SNAPSHOT_NOT_FOUND"
    with pytest.raises(NotFound) as err:
        await conns.graph_lineage("ns", "g", 1)
    assert err.value.reason == "GRAPH_NOT_FOUND"


async def test_lineage_is_kept_with_its_graph_and_the_first_one_stays() -> None:
    conns, _, _, _ = connections()
    await conns.write_graph("ns", Graph("g", 5, b"{}", "json", ()))
    assert await conns.graph_lineage("ns", "g", 5) is None
    await conns.write_graph("ns", Graph("g", 5, b"{}", "json", ()), LINEAGE)
    other = GraphLineage((LineageArtifact("z"),), (), ())
    await conns.write_graph("ns", Graph("g", 5, b"{}", "json", ()), other)
    assert await conns.graph_lineage("ns", "g", 5) == LINEAGE


async def test_a_bad_lineage_writes_nothing() -> None:
    conns, repo, _, _ = connections()
    dangling = GraphLineage((LineageArtifact("a"),), (), (LineageEdge(EdgeKind.INPUT, "a", "nobody"),))
    with pytest.raises(InvalidArgument) as err:
        await conns.write_graph("ns", Graph("g", 5, b"{}", "json", ()), dangling)
    assert err.value.reason == "DANGLING_LINEAGE_EDGE"
    assert repo.graphs == {}


@pytest.mark.parametrize(
    ("graph", "field"),
    [
        (Graph("", 1, b"", "json", ()), "name"),
        (Graph("g", 1, b"", "f" * 256, ()), "graph.document_format"),
        (Graph("g", 1, b"", "json", ("",)), "code_refs"),
    ],
)
async def test_bad_graphs_are_refused_before_any_write(graph: Graph, field: str) -> None:
    conns, repo, _, _ = connections()
    with pytest.raises(InvalidArgument) as err:
        await conns.write_graph("ns", graph)
    assert err.value.metadata["field"] == field and repo.graphs == {}


async def test_replies_are_made_once_per_cached_record() -> None:
    conns, _, _, _ = connections()
    await conns.write_graph("ns", Graph("g", 5, b"{}", "json", ()))
    await conns.write_snapshot("ns", Snapshot("g", 6, 1, 5, b"{}", "json", ()))
    made: list[str] = []

    def graph_reply(g: Graph) -> tuple[str, int]:
        made.append("graph")
        return ("graph", g.fingerprint)

    first = await conns.render_graph("ns", "g", 5, graph_reply)
    assert await conns.render_graph("ns", "g", 5, graph_reply) is first and made == ["graph"]

    def tag_reply(t: SnapshotTag, s: Snapshot) -> tuple[str, int]:
        made.append(t.tag)
        return (t.tag, s.fingerprint)

    for tag in ("a", "b"):
        await conns.write_snapshot_tag("ns", "g", tag, 6, overwrite=False, expected=None, actor="")
    assert await conns.render_snapshot_tag("ns", "g", "a", tag_reply) == ("a", 6)
    assert await conns.render_snapshot_tag("ns", "g", "a", tag_reply) == ("a", 6)
    assert await conns.render_snapshot_tag("ns", "g", "b", tag_reply) == ("b", 6)
    assert made == ["graph", "a", "b"]  # an equal tag on the same snapshot reuses its reply


async def test_a_record_dropped_from_the_cache_gets_a_new_reply() -> None:
    conns, _, _, _ = connections()
    await conns.write_graph("ns", Graph("g", 5, b"{}", "json", ()))

    def reply(g: Graph) -> object:
        return object()

    first = await conns.render_graph("ns", "g", 5, reply)
    assert await conns.render_graph("ns", "g", 5, reply) is first
    conns.cache.clear()
    assert await conns.render_graph("ns", "g", 5, reply) is not first


async def test_lists_page_by_keyset() -> None:
    conns, _, _, _ = connections()
    for fp in (3, 1, 2):
        await conns.write_graph("ns", Graph("g", fp, b"", "json", ()))
    first = await conns.list_graphs("ns", "", 2, "")
    rest = await conns.list_graphs("ns", "g", 2, first.next_page_token)
    assert [g.fingerprint for g in first.items + rest.items] == [1, 2, 3] and rest.next_page_token == ""
