"""Every Connection method, called the same way on arti's MemoryBackend and on artimeta: same
results, same errors."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

import pytest
from arti import Fingerprint
from arti.backends.memory import MemoryBackend
from arti.partitions import CompositeKey, DateKey, Int8Key, Int16Key, Int32Key, Int64Key, NullKey
from arti.storage.literal import StringLiteralPartition
from arti.storage.local import LocalFilePartition
from arti_graphs import divide_graph, literal_graph

from artimeta.adapters.arti import ArtimetaBackend


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        result = fn()
    except Exception as exc:
        return "raised", (type(exc), str(exc))
    if isinstance(result, tuple):
        return "returned", frozenset(result) if len(set(result)) == len(result) else ("dupes", result)
    return "returned", result


def same(memory: MemoryBackend, remote: ArtimetaBackend, call: Callable[[Any], Any]) -> tuple[str, Any]:
    with memory.connect() as m, remote.connect() as r:
        expected = outcome(lambda: call(m))
        got = outcome(lambda: call(r))
    assert got == expected
    return got


def partitions() -> tuple[StringLiteralPartition | LocalFilePartition, ...]:
    keyed = [CompositeKey(day=DateKey(key=date(2021, 1, d)), n=Int64Key(key=-(2**40) - d)) for d in range(1, 4)]
    return (
        *(
            StringLiteralPartition(keys=k, input_fingerprint=Fingerprint.from_int(i), id=f"p{i}", value=str(i))
            for i, k in enumerate(keyed)
        ),
        StringLiteralPartition(
            keys=CompositeKey(a=Int8Key(key=-3), b=Int16Key(key=300), c=Int32Key(key=70000), z=NullKey()),
            id="all-types",
            value="v",
        ),
        LocalFilePartition(path="/data/x.json", content_fingerprint=Fingerprint.from_int(-9)),
        LocalFilePartition(
            keys=keyed[0],
            path="/data/zero.json",
            input_fingerprint=Fingerprint.identity(),
            content_fingerprint=Fingerprint.from_int(1),
        ),
    )


@pytest.fixture
def memory() -> MemoryBackend:
    return MemoryBackend()


def test_graph_and_snapshot_methods(memory: MemoryBackend, backend: ArtimetaBackend, tmp_path) -> None:
    g = divide_graph(backend, str(tmp_path))
    fp = g.fingerprint
    same(memory, backend, lambda c: c.read_graph(g.name, fp))  # KeyError on both
    same(memory, backend, lambda c: c.write_graph(g))
    kind, read = same(memory, backend, lambda c: c.read_graph(g.name, fp))
    assert kind == "returned" and read == g
    same(memory, backend, lambda c: c.read_graph("other", fp))
    same(memory, backend, lambda c: c.read_graph(g.name, Fingerprint.from_int(1)))

    from arti.graphs import GraphSnapshot

    snap = GraphSnapshot(id=Fingerprint.from_int(1234), graph=g)
    same(memory, backend, lambda c: c.read_snapshot(snap.name, snap.fingerprint))
    same(memory, backend, lambda c: c.write_snapshot(snap))
    _kind, read_snap = same(memory, backend, lambda c: c.read_snapshot(snap.name, snap.fingerprint))
    assert read_snap == snap and read_snap.graph.backend is not None
    same(memory, backend, lambda c: c.read_snapshot(snap.name, Fingerprint.from_int(3)))


def test_loaded_graphs_get_the_reading_backend(backend: ArtimetaBackend, tmp_path) -> None:
    g = divide_graph(MemoryBackend(), str(tmp_path))
    with backend.connect() as conn:
        conn.write_graph(g)
        loaded = conn.read_graph(g.name, g.fingerprint)
    assert loaded == g and loaded.backend is backend


def test_tag_methods(memory: MemoryBackend, backend: ArtimetaBackend, tmp_path) -> None:
    g1 = divide_graph(backend, str(tmp_path))
    g2 = divide_graph(backend, str(tmp_path), a=20)
    with backend.connect() as conn:
        s1, s2 = g1.snapshot(connection=conn), g2.snapshot(connection=conn)
    same(memory, backend, lambda c: c.read_snapshot_tag(g1.name, "prod"))
    same(memory, backend, lambda c: c.write_snapshot_tag(s1, "prod"))
    assert same(memory, backend, lambda c: c.read_snapshot_tag(g1.name, "prod")) == ("returned", s1)
    # Exists without overwrite: arti's ValueError, also when it points at the same snapshot.
    kind, (exc_type, message) = same(memory, backend, lambda c: c.write_snapshot_tag(s1, "prod"))
    assert kind == "raised" and exc_type is ValueError and message.startswith("Existing `prod` tag")
    same(memory, backend, lambda c: c.write_snapshot_tag(s2, "prod"))
    same(memory, backend, lambda c: c.write_snapshot_tag(s2, "prod", overwrite=True))
    assert same(memory, backend, lambda c: c.read_snapshot_tag(g1.name, "prod")) == ("returned", s2)
    same(memory, backend, lambda c: c.read_snapshot_tag("other", "prod"))


def test_a_snapshot_can_be_tagged_before_it_is_written(memory, backend, tmp_path) -> None:
    from arti.graphs import GraphSnapshot

    g = divide_graph(backend, str(tmp_path))
    snap = GraphSnapshot(id=Fingerprint.from_int(77), graph=g)
    same(memory, backend, lambda c: c.write_snapshot_tag(snap, "early"))
    assert same(memory, backend, lambda c: c.read_snapshot_tag(g.name, "early")) == ("returned", snap)


def test_artifact_partition_methods(memory: MemoryBackend, backend: ArtimetaBackend) -> None:
    g = literal_graph(backend)
    artifact = g.artifacts.x
    parts = partitions()
    # First look at a storage: both discover the literal's own partition.
    kind, found = same(memory, backend, lambda c: c.read_artifact_partitions(artifact))
    assert kind == "returned" and len(found) == 1
    same(memory, backend, lambda c: c.write_artifact_partitions(artifact, parts[:3]))
    same(memory, backend, lambda c: c.write_artifact_partitions(artifact, parts[1:] + parts[:1]))
    _kind, everything = same(memory, backend, lambda c: c.read_artifact_partitions(artifact))
    assert len(everything) == len(parts) + 1
    wanted = {p.keys: p.input_fingerprint for p in parts[:2]}
    wanted[parts[2].keys] = Fingerprint.from_int(12345)  # wrong fingerprint: filtered out
    wanted[CompositeKey(day=DateKey(key=date(1999, 1, 1)))] = Fingerprint.from_int(1)  # unknown keys
    _kind, filtered = same(memory, backend, lambda c: c.read_artifact_partitions(artifact, wanted))
    expected = {p.with_content_fingerprint() for p in parts if wanted.get(p.keys) == p.input_fingerprint}
    assert filtered == frozenset(expected) and len(expected) == 3
    only_unkeyed = {CompositeKey(): Fingerprint.empty()}
    _kind, unkeyed = same(memory, backend, lambda c: c.read_artifact_partitions(artifact, only_unkeyed))
    assert len(unkeyed) == 2  # the literal's own partition and the unkeyed file
    same(memory, backend, lambda c: c.write_artifact_partitions(artifact, ()))


def test_content_fingerprints_are_computed_before_storing(memory, backend) -> None:
    g = literal_graph(backend, value=9)
    artifact = g.artifacts.x
    bare = StringLiteralPartition(id="bare", value="hello")
    same(memory, backend, lambda c: c.write_artifact_partitions(artifact, (bare,)))
    _kind, got = same(memory, backend, lambda c: c.read_artifact_partitions(artifact))
    assert bare.with_content_fingerprint() in got


def test_snapshot_partition_methods(memory: MemoryBackend, backend: ArtimetaBackend, tmp_path) -> None:
    g = divide_graph(backend, str(tmp_path))
    with backend.connect() as conn:
        snap = g.snapshot(connection=conn)
    with memory.connect() as m:
        m.write_graph(g)
        m.write_snapshot(snap)
    parts = partitions()
    artifact = g.artifacts.c
    same(memory, backend, lambda c: c.read_snapshot_partitions(snap, "c", artifact))
    same(memory, backend, lambda c: c.write_snapshot_partitions(snap, "c", artifact, parts[:2]))
    same(memory, backend, lambda c: c.write_snapshot_partitions(snap, "c", artifact, parts[1:4]))
    _kind, got = same(memory, backend, lambda c: c.read_snapshot_partitions(snap, "c", artifact))
    assert got == frozenset(p.with_content_fingerprint() for p in parts[:4])
    same(memory, backend, lambda c: c.read_snapshot_partitions(snap, "other", artifact))
    # Linking to a snapshot does not record the partitions for the storage.
    _kind, storage_parts = same(memory, backend, lambda c: c.read_artifact_partitions(artifact))
    fingerprinted = [p.with_content_fingerprint() for p in parts]
    assert not set(fingerprinted) & set(storage_parts)
    same(memory, backend, lambda c: c.write_artifact_and_graph_partitions(snap, "c", artifact, parts[4:]))
    _kind, got = same(memory, backend, lambda c: c.read_snapshot_partitions(snap, "c", artifact))
    assert got == frozenset(fingerprinted)
    _kind, storage_parts = same(memory, backend, lambda c: c.read_artifact_partitions(artifact))
    assert set(fingerprinted[4:]) <= set(storage_parts)


def test_unknown_snapshot_has_no_partitions(memory, backend, tmp_path) -> None:
    from arti.graphs import GraphSnapshot

    g = divide_graph(backend, str(tmp_path))
    ghost = GraphSnapshot(id=Fingerprint.from_int(5), graph=g)
    assert same(memory, backend, lambda c: c.read_snapshot_partitions(ghost, "c", g.artifacts.c)) == (
        "returned",
        frozenset(),
    )
