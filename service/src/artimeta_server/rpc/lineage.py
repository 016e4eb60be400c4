"""GraphLineage messages <-> the domain's lineage."""

from __future__ import annotations

from artimeta.v1 import graph_pb2
from artimeta_server.domain.connection.lineage import (
    EdgeKind,
    GraphLineage,
    LineageArtifact,
    LineageEdge,
    LineageProducer,
)
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

_KINDS = {
    graph_pb2.LINEAGE_EDGE_KIND_INPUT: EdgeKind.INPUT,
    graph_pb2.LINEAGE_EDGE_KIND_OUTPUT: EdgeKind.OUTPUT,
}
_MESSAGE_KINDS = {v: k for k, v in _KINDS.items()}


def lineage_from_message(msg: graph_pb2.GraphLineage) -> GraphLineage:
    edges: list[LineageEdge] = []
    for i, e in enumerate(msg.edges):
        kind = _KINDS.get(e.kind)
        if kind is None:
            raise InvalidArgument(
                f"edge {i} has no kind (LINEAGE_EDGE_KIND_INPUT or LINEAGE_EDGE_KIND_OUTPUT)",
                reason=Reason.INVALID_LINEAGE_EDGE,
                metadata={"field": f"lineage.edges[{i}].kind"},
            )
        edges.append(LineageEdge(kind, e.artifact_key, e.producer_key, e.input_name, e.output_position))
    return GraphLineage(
        tuple(
            LineageArtifact(a.key, a.artifact_class, a.type, a.format, a.storage, a.stored_by_value)
            for a in msg.artifacts
        ),
        tuple(LineageProducer(p.key, p.name, p.qualname, p.version, p.stored_by_value) for p in msg.producers),
        tuple(edges),
    )


def lineage_message(lineage: GraphLineage) -> graph_pb2.GraphLineage:
    return graph_pb2.GraphLineage(
        artifacts=[
            graph_pb2.LineageArtifact(
                key=a.key,
                artifact_class=a.artifact_class,
                type=a.type,
                format=a.format,
                storage=a.storage,
                stored_by_value=a.stored_by_value,
            )
            for a in lineage.artifacts
        ],
        producers=[
            graph_pb2.LineageProducer(
                key=p.key, name=p.name, qualname=p.qualname, version=p.version, stored_by_value=p.stored_by_value
            )
            for p in lineage.producers
        ],
        edges=[
            graph_pb2.LineageEdge(
                kind=_MESSAGE_KINDS[e.kind],
                artifact_key=e.artifact_key,
                producer_key=e.producer_key,
                input_name=e.input_name,
                output_position=e.output_position,
            )
            for e in lineage.edges
        ],
    )
