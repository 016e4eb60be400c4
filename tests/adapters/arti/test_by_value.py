"""Graphs whose producers and artifact classes are defined inside a function (as in a notebook
cell or a script's main()), on a namespace that did not exist: stored by value, so another
process that never defined them reads, tags and rebuilds the graph without calling the producer.
No `from __future__ import annotations` here: arti resolves a producer's hints at decoration
time, and postponed ones could not see the classes local to the test."""

import json
import os
import subprocess
import sys
from pathlib import Path

from arti_graphs import builds

from artimeta.adapters.arti import ArtimetaBackend

# Reads the graph the test wrote under the tag, tags it again and rebuilds it. This process never
# defines (nor can import) the producer or the artifact class: they come with the document.
READER_PROCESS = r"""
import json, sys
from arti.graphs import GraphSnapshot
from artimeta.adapters.arti import ArtimetaBackend

target, namespace = sys.argv[1:3]
backend = ArtimetaBackend(target=target, namespace=namespace)
tagged = GraphSnapshot.from_tag("local", "prod", connectable=backend)
graph = tagged.graph
tagged.tag("reviewed")
rebuilt = graph.build()
again = GraphSnapshot.from_tag("local", "reviewed", connectable=backend)
print(json.dumps({
    "producer_class": type(graph.artifacts.y.producer_output.producer).__qualname__,
    "artifact_class": type(graph.artifacts.y).__qualname__,
    "output_view": type(type(graph.artifacts.y.producer_output.producer)._outputs_[0]).__qualname__,
    "graph_fingerprint": graph.fingerprint.key,
    "rebuilt_fingerprint": rebuilt.fingerprint.key,
    "reviewed_fingerprint": again.fingerprint.key,
    "value": rebuilt.read(graph.artifacts.y, annotation=int),
}))
"""


def test_a_graph_whose_producer_is_defined_in_a_function_is_rebuilt_by_another_process(
    target: str, new_namespace: str, client, tmp_path: Path, build_log: Path
) -> None:
    namespace = new_namespace
    backend = ArtimetaBackend(target=target, namespace=namespace)
    from typing import Annotated

    from arti import Artifact, Graph, producer
    from arti.formats.json import JSON
    from arti.storage.local import LocalFile
    from arti.types import Int64
    from arti.views.python import PythonBuiltin

    class Count(Artifact):  # no other process can import a class defined here
        type: Int64 = Int64()
        format: JSON = JSON()
        storage: LocalFile = LocalFile()

    class Exact(PythonBuiltin):  # a view of its own (priority -1: chosen only when named)
        python_type = int
        priority = -1

    @producer()
    def plus1(x: int) -> Annotated[int, Count, Exact]:
        import os

        with open(os.environ["ARTI_BUILD_LOG"], "a") as f:
            f.write(f"plus1 {x}\n")
        return x + 1

    storage = str(tmp_path / "data" / "{graph_name}" / "{names}" / "{input_fingerprint}.json")
    with Graph(name="local", backend=backend) as g:
        g.artifacts.x = 41
        g.artifacts.y = plus1(x=g.artifacts.x).out(Count(storage=LocalFile(path=storage)))
    snap = g.build()
    snap.tag("prod")
    assert builds(build_log) == ["plus1 41"]

    # Run from an empty folder with nothing of this suite importable.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", READER_PROCESS, target, namespace],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["producer_class"] == "plus1" and seen["artifact_class"].endswith("<locals>.Count")
    assert seen["output_view"].endswith("<locals>.Exact")
    assert seen["graph_fingerprint"] == g.fingerprint.key
    assert seen["rebuilt_fingerprint"] == seen["reviewed_fingerprint"] == snap.fingerprint.key
    assert seen["value"] == 42
    assert builds(build_log) == ["plus1 41"], "the other process called the producer again"

    # The lineage says which classes travel by value, and importable ones stay references.
    from artimeta.v1 import connection_pb2, connection_pb2_grpc

    lineage = client.call(
        client.stub(connection_pb2_grpc.ConnectionServiceStub).GetGraphLineage,
        connection_pb2.GetGraphLineageRequest(namespace=namespace, name="local", fingerprint=g.fingerprint.key),
    ).lineage
    assert [p.stored_by_value for p in lineage.producers] == [True]
    assert {a.key: a.stored_by_value for a in lineage.artifacts} == {"x": False, "y": True}
    stored = client.call(
        client.stub(connection_pb2_grpc.ConnectionServiceStub).ReadGraph,
        connection_pb2.ReadGraphRequest(namespace=namespace, name="local", fingerprint=g.fingerprint.key),
    ).graph
    assert not any("<locals>" in ref or "plus1" in ref for ref in stored.code_refs)
    assert "arti.artifacts:Artifact" in stored.code_refs
    backend.close()
