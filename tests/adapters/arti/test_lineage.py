"""The lineage the adapter records with each graph it writes, computed from the real arti Graph on
the client side, and the partitions of its artifacts paged by the key the lineage names."""

from __future__ import annotations

from pathlib import Path

from arti_graphs import two_step_graph

import artimeta
from artimeta.adapters.arti import ArtimetaBackend
from artimeta.v1 import connection_pb2 as pb
from artimeta.v1 import connection_pb2_grpc, graph_pb2

INPUT = graph_pb2.LINEAGE_EDGE_KIND_INPUT
OUTPUT = graph_pb2.LINEAGE_EDGE_KIND_OUTPUT


def test_built_graph_has_its_artifacts_producers_and_edges(
    backend: ArtimetaBackend, client: artimeta.Client, namespace: str, tmp_path: Path
) -> None:
    g = two_step_graph(backend, str(tmp_path / "data"))
    snap = g.build()
    stub = client.stub(connection_pb2_grpc.ConnectionServiceStub)
    got = client.call(
        stub.GetGraphLineage,
        pb.GetGraphLineageRequest(namespace=namespace, name=g.name, fingerprint=g.fingerprint.key),
    )
    assert got.HasField("lineage")
    lin = got.lineage
    artifacts = {a.key: a for a in lin.artifacts}
    assert set(artifacts) == {"a", "b", "c", "stats.total"}
    assert artifacts["c"].artifact_class == "arti_graphs:Num"
    assert artifacts["c"].type == "Int64()" and artifacts["c"].format == "JSON()"
    assert artifacts["c"].storage.startswith("LocalFile(path=")
    producers = {p.key: p for p in lin.producers}
    names = {p.name: key for key, p in producers.items()}
    assert set(names) == {"div", "plus"}
    assert producers[names["div"]].qualname == "arti_graphs:div"
    assert producers[names["div"]].version == "0.0.1"
    edges = {(e.kind, e.artifact_key, e.producer_key, e.input_name) for e in lin.edges}
    div, plus = names["div"], names["plus"]
    assert edges == {
        (INPUT, "a", div, "a"),
        (INPUT, "b", div, "b"),
        (OUTPUT, "c", div, ""),
        (INPUT, "c", plus, "x"),
        (INPUT, "b", plus, "y"),
        (OUTPUT, "stats.total", plus, ""),
    }
    # The artifact keys of the lineage are the keys partitions are linked to in the snapshot.
    page = client.call(
        stub.ListSnapshotPartitions,
        pb.ListSnapshotPartitionsRequest(
            namespace=namespace, name=g.name, snapshot_fingerprint=snap.fingerprint.key, artifact_key="stats.total"
        ),
    )
    assert len(page.partitions) == 1 and page.next_page_token == ""
    assert page.partitions[0].HasField("input_fingerprint") and page.partitions[0].HasField("content_fingerprint")
    assert snap.read(g.artifacts.stats.total, annotation=int) == 7


def test_rewriting_a_graph_keeps_its_lineage(
    backend: ArtimetaBackend, client: artimeta.Client, namespace: str, tmp_path: Path
) -> None:
    g = two_step_graph(backend, str(tmp_path / "data"))
    with backend.connect() as conn:
        conn.write_graph(g)
        conn.write_graph(g)
    stub = client.stub(connection_pb2_grpc.ConnectionServiceStub)
    got = client.call(
        stub.GetGraphLineage,
        pb.GetGraphLineageRequest(namespace=namespace, name=g.name, fingerprint=g.fingerprint.key),
    )
    assert len(got.lineage.artifacts) == 4 and len(got.lineage.producers) == 2 and len(got.lineage.edges) == 6
