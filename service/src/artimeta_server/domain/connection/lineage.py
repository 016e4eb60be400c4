"""The lineage of a graph: its artifacts, producers and the edges between them, as the writer
describes them. The server never decodes a graph's document, so this is what lets a reader (the
console) see the structure; it is checked here so every stored lineage is a well-formed graph."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from artimeta_server.domain import validation
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

MAX_NODES = 10_000
MAX_EDGES = 100_000
MAX_TEXT = 1024


class EdgeKind(Enum):
    INPUT = "input"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True)
class LineageArtifact:
    key: str
    artifact_class: str = ""
    type: str = ""
    format: str = ""
    storage: str = ""
    stored_by_value: bool = False


@dataclass(frozen=True, slots=True)
class LineageProducer:
    key: str
    name: str = ""
    qualname: str = ""
    version: str = ""
    stored_by_value: bool = False


@dataclass(frozen=True, slots=True)
class LineageEdge:
    kind: EdgeKind
    artifact_key: str
    producer_key: str
    input_name: str = ""
    output_position: int = 0


@dataclass(frozen=True, slots=True)
class GraphLineage:
    artifacts: tuple[LineageArtifact, ...]
    producers: tuple[LineageProducer, ...]
    edges: tuple[LineageEdge, ...]


def _count(items: tuple[object, ...], field: str, limit: int) -> None:
    if len(items) > limit:
        raise InvalidArgument(
            f"{len(items)} {field}; at most {limit} are allowed",
            reason=Reason.TOO_MANY_LINEAGE_ITEMS,
            metadata={"field": f"lineage.{field}", "limit": str(limit)},
        )


def _text(value: str, field: str, *, required: bool = False) -> None:
    validation.text(value, field=field, max_len=MAX_TEXT, required=required)


def _unique(keys: list[str], field: str) -> set[str]:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise InvalidArgument(
                f"{field} key {key!r} appears twice",
                reason=Reason.DUPLICATE_LINEAGE_NODE,
                metadata={"field": f"lineage.{field}", "key": key},
            )
        seen.add(key)
    return seen


def check(lineage: GraphLineage) -> GraphLineage:
    """The lineage itself when it is well formed; InvalidArgument naming the first fault otherwise."""
    _count(lineage.artifacts, "artifacts", MAX_NODES)
    _count(lineage.producers, "producers", MAX_NODES)
    _count(lineage.edges, "edges", MAX_EDGES)
    for a in lineage.artifacts:
        _text(a.key, "lineage.artifacts.key", required=True)
        for value, name in ((a.artifact_class, "artifact_class"), (a.type, "type"), (a.format, "format")):
            _text(value, f"lineage.artifacts.{name}")
        _text(a.storage, "lineage.artifacts.storage")
    for p in lineage.producers:
        _text(p.key, "lineage.producers.key", required=True)
        for value, name in ((p.name, "name"), (p.qualname, "qualname"), (p.version, "version")):
            _text(value, f"lineage.producers.{name}")
    artifacts = _unique([a.key for a in lineage.artifacts], "artifacts")
    producers = _unique([p.key for p in lineage.producers], "producers")
    for i, e in enumerate(lineage.edges):
        _text(e.input_name, "lineage.edges.input_name")
        for key, known, kind in ((e.artifact_key, artifacts, "artifact"), (e.producer_key, producers, "producer")):
            if key not in known:
                raise InvalidArgument(
                    f"edge {i} names {kind} {key!r}, which is not in the lineage",
                    reason=Reason.DANGLING_LINEAGE_EDGE,
                    metadata={"field": f"lineage.edges[{i}].{kind}_key", "key": key[:MAX_TEXT]},
                )
        if e.output_position < 0:
            raise InvalidArgument(
                f"edge {i} has a negative output_position",
                reason=Reason.INVALID_LINEAGE_EDGE,
                metadata={"field": f"lineage.edges[{i}].output_position"},
            )
    return lineage
