"""A graph's lineage as its row keeps it (JSONB): positional arrays rather than objects, so a
lineage of 10k nodes stays a few hundred KB."""

from __future__ import annotations

import json

from artimeta_server.domain.connection.lineage import (
    EdgeKind,
    GraphLineage,
    LineageArtifact,
    LineageEdge,
    LineageProducer,
)


def lineage_json(lineage: GraphLineage) -> str:
    return json.dumps(
        {
            # A trailing true marks a class stored by value (lineages recorded before it have none).
            "artifacts": [
                [a.key, a.artifact_class, a.type, a.format, a.storage, *([True] if a.stored_by_value else [])]
                for a in lineage.artifacts
            ],
            "producers": [
                [p.key, p.name, p.qualname, p.version, *([True] if p.stored_by_value else [])]
                for p in lineage.producers
            ],
            "edges": [
                [e.kind.value, e.artifact_key, e.producer_key, e.input_name, e.output_position] for e in lineage.edges
            ],
        },
        separators=(",", ":"),
    )


def lineage_from_json(text: str) -> GraphLineage:
    doc = json.loads(text)
    return GraphLineage(
        tuple(LineageArtifact(*a) for a in doc["artifacts"]),
        tuple(LineageProducer(*p) for p in doc["producers"]),
        tuple(LineageEdge(EdgeKind(e[0]), e[1], e[2], e[3], e[4]) for e in doc["edges"]),
    )
