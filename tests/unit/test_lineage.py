"""The lineage check and its stored form, without I/O."""

from __future__ import annotations

import pytest

from artimeta_server.domain.connection.lineage import (
    MAX_EDGES,
    EdgeKind,
    GraphLineage,
    LineageArtifact,
    LineageEdge,
    LineageProducer,
    check,
)
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.storage.connection.lineage_codec import lineage_from_json, lineage_json


def sample() -> GraphLineage:
    return GraphLineage(
        (LineageArtifact("in", "m:A", "Int64()", "JSON()", "LocalFile(path='ü/{x}')"), LineageArtifact("out")),
        (LineageProducer("-5", "p", "m:p", "1.0"),),
        (LineageEdge(EdgeKind.INPUT, "in", "-5", "x"), LineageEdge(EdgeKind.OUTPUT, "out", "-5", "", 0)),
    )


def test_stored_form_round_trips() -> None:
    assert lineage_from_json(lineage_json(sample())) == sample()
    assert lineage_from_json(lineage_json(GraphLineage((), (), ()))) == GraphLineage((), (), ())


def test_classes_stored_by_value_keep_their_mark_and_older_rows_have_none() -> None:
    marked = GraphLineage(
        (LineageArtifact("out", "m:<locals>.A", stored_by_value=True),),
        (LineageProducer("-5", "p", "m:<locals>.p", "1.0", stored_by_value=True),),
        (),
    )
    assert lineage_from_json(lineage_json(marked)) == marked
    # Recorded before the mark existed: five and four fields, nothing stored by value.
    older = lineage_from_json('{"artifacts":[["a","m:A","t","f","s"]],"producers":[["1","p","m:p","1"]],"edges":[]}')
    assert not older.artifacts[0].stored_by_value and not older.producers[0].stored_by_value


def test_a_well_formed_lineage_passes() -> None:
    assert check(sample()) == sample()


def test_an_edge_to_a_missing_node_is_named() -> None:
    bad = GraphLineage(sample().artifacts, sample().producers, (LineageEdge(EdgeKind.OUTPUT, "gone", "-5"),))
    with pytest.raises(InvalidArgument) as err:
        check(bad)
    assert err.value.reason == "DANGLING_LINEAGE_EDGE"
    assert err.value.metadata == {"field": "lineage.edges[0].artifact_key", "key": "gone"}


def test_the_same_key_in_both_kinds_is_fine_but_not_twice_in_one() -> None:
    both = GraphLineage((LineageArtifact("k"),), (LineageProducer("k"),), (LineageEdge(EdgeKind.INPUT, "k", "k"),))
    assert check(both) == both
    with pytest.raises(InvalidArgument) as err:
        check(GraphLineage((LineageArtifact("k"), LineageArtifact("k")), (), ()))
    assert err.value.reason == "DUPLICATE_LINEAGE_NODE"


def test_too_many_edges() -> None:
    edge = LineageEdge(EdgeKind.INPUT, "in", "-5")
    with pytest.raises(InvalidArgument) as err:
        check(GraphLineage(sample().artifacts, sample().producers, (edge,) * (MAX_EDGES + 1)))
    assert (err.value.reason, err.value.metadata["field"]) == ("TOO_MANY_LINEAGE_ITEMS", "lineage.edges")


def test_every_connection_method_is_declared_and_reads_need_a_reader() -> None:
    import artimeta_server.rpc.connection  # noqa: F401  (declares its methods)
    from artimeta.v1 import connection_pb2
    from artimeta_server.domain.auth.models import Role
    from artimeta_server.rpc import access

    methods = connection_pb2.DESCRIPTOR.services_by_name["ConnectionService"].methods_by_name
    declared = access.declared()
    for method in methods:
        rule = declared[f"/artimeta.v1.ConnectionService/{method}"]
        want = Role.WRITER if method.startswith("Write") else Role.READER
        assert (rule.role, rule.field) == (want, "namespace"), method
