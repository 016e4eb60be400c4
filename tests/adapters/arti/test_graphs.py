"""Real arti graphs built through the adapter, and a second process that reads what the first wrote
(graph, snapshot, tag, partitions) and skips what is already built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from arti.graphs import GraphSnapshot
from arti_graphs import builds, divide_graph, literal_graph

from artimeta.adapters.arti import ArtimetaBackend

SECOND_PROCESS = r"""
import json, sys
from artimeta.adapters.arti import ArtimetaBackend
from arti.graphs import GraphSnapshot
from arti_graphs import divide_graph

target, namespace, root = sys.argv[1:4]
backend = ArtimetaBackend(target=target, namespace=namespace)
g = divide_graph(backend, root)
tagged = GraphSnapshot.from_tag("divide", "prod", connectable=backend)
with backend.connect() as conn:
    stored_graph = conn.read_graph(g.name, g.fingerprint)
    linked = conn.read_snapshot_partitions(tagged, "c", g.artifacts.c)
before_build = tagged.read(g.artifacts.c, annotation=int)
snap = g.build()
print(json.dumps({
    "graph_equal": stored_graph == g,
    "backend_attached": stored_graph.backend is backend and tagged.graph.backend is backend,
    "tagged_fingerprint": tagged.fingerprint.key,
    "snapshot_fingerprint": snap.fingerprint.key,
    "linked_paths": sorted(p.path for p in linked),
    "value_from_tag": before_build,
    "value": snap.read(g.artifacts.c, annotation=int),
}))
"""


def test_build_tag_and_reuse_from_another_process(
    backend: ArtimetaBackend, target: str, namespace: str, tmp_path: Path, build_log: Path
) -> None:
    root = str(tmp_path / "data")
    g = divide_graph(backend, root)
    snap = g.build()
    assert snap.read(g.artifacts.c, annotation=int) == 2
    snap.tag("prod")
    assert builds(build_log) == ["div 10 5"]
    # Building again in this process skips the built partition.
    g.build()
    assert builds(build_log) == ["div 10 5"]

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run(
        [sys.executable, "-c", SECOND_PROCESS, target, namespace, root],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["graph_equal"] and seen["backend_attached"]
    assert seen["tagged_fingerprint"] == snap.fingerprint.key == seen["snapshot_fingerprint"]
    assert len(seen["linked_paths"]) == 1 and seen["linked_paths"][0].startswith(root)
    assert seen["value_from_tag"] == seen["value"] == 2
    assert builds(build_log) == ["div 10 5"], "the second process rebuilt a partition it could reuse"


def test_a_changed_input_builds_a_new_partition(backend: ArtimetaBackend, tmp_path: Path, build_log: Path) -> None:
    root = str(tmp_path / "data")
    first = divide_graph(backend, root).build()
    second = divide_graph(backend, root, a=30).build()
    assert first.fingerprint != second.fingerprint
    assert builds(build_log) == ["div 10 5", "div 30 5"]
    assert second.read(second.graph.artifacts.c, annotation=int) == 6
    # The storage now knows both partitions; each snapshot links only its own.
    with backend.connect() as conn:
        everything = conn.read_artifact_partitions(second.graph.artifacts.c)
        linked = conn.read_snapshot_partitions(first, "c", first.graph.artifacts.c)
    assert len(everything) == 2 and len(linked) == 1


def test_tags_move_only_with_overwrite(backend: ArtimetaBackend, tmp_path: Path, client, namespace: str) -> None:
    from arti.graphs import GraphSnapshot

    s1 = literal_graph(backend, value=1).snapshot()
    s2 = literal_graph(backend, value=2).snapshot()
    s1.tag("prod")
    with pytest.raises(ValueError, match="Existing `prod` tag for Graph `literal` points to"):
        s2.tag("prod")
    s2.tag("prod", overwrite=True)
    assert GraphSnapshot.from_tag("literal", "prod", connectable=backend) == s2
    with pytest.raises(ValueError, match="No known `dev` tag for GraphSnapshot `literal`"):
        GraphSnapshot.from_tag("literal", "dev", connectable=backend)
    # The service keeps who moved the tag and when.
    from artimeta.v1 import connection_pb2, connection_pb2_grpc

    history = client.call(
        client.stub(connection_pb2_grpc.ConnectionServiceStub).ListSnapshotTagHistory,
        connection_pb2.ListSnapshotTagHistoryRequest(namespace=namespace, name="literal", tag="prod"),
    )
    assert [m.to_snapshot_fingerprint for m in history.moves] == [s2.fingerprint.key, s1.fingerprint.key]
    assert {m.actor for m in history.moves} == {"tests"}


def test_backends_pickle_without_their_channel(backend: ArtimetaBackend) -> None:
    import pickle

    with backend.connect():
        pass
    copy = pickle.loads(pickle.dumps(backend))
    assert copy == backend
    with copy.connect() as conn:
        conn.read_snapshot_partitions(literal_graph(copy).snapshot(), "x", None)


def test_a_namespace_that_does_not_exist_yet_is_created_on_first_use(target: str, client, tmp_path: Path) -> None:
    import artimeta

    name = f"arti-new-{uuid.uuid4().hex[:12]}"
    with pytest.raises(artimeta.NotFound):
        client.get_namespace(name)
    backend = ArtimetaBackend(target=target, namespace=name)
    try:
        snap = divide_graph(backend, str(tmp_path / "data")).build()
        snap.tag("prod")
        assert client.get_namespace(name).name == name
        assert GraphSnapshot.from_tag("divide", "prod", connectable=backend) == snap
    finally:
        backend.close()
        client.delete_namespace(name, allow_missing=True)


def test_without_create_namespace_a_missing_namespace_is_not_found(target: str, client, tmp_path: Path) -> None:
    import artimeta

    name = f"arti-new-{uuid.uuid4().hex[:12]}"
    backend = ArtimetaBackend(target=target, namespace=name, create_namespace=False)
    with pytest.raises(artimeta.NotFound, match="create_namespace=False") as err:
        divide_graph(backend, str(tmp_path / "data")).build()
    assert err.value.reason == "NAMESPACE_NOT_FOUND" and err.value.metadata["namespace"] == name
    with pytest.raises(artimeta.NotFound):
        client.get_namespace(name)


def test_importable_producers_stay_references(backend: ArtimetaBackend, tmp_path: Path) -> None:
    from artimeta.adapters.arti import graph_code_refs, graph_lineage

    g = divide_graph(backend, str(tmp_path / "data"))
    assert "arti_graphs:div" in graph_code_refs(g) and "arti_graphs:Num" in graph_code_refs(g)
    lineage = graph_lineage(g)
    assert not any(p.stored_by_value for p in lineage.producers)
    assert not any(a.stored_by_value for a in lineage.artifacts)
