"""Records of arti's Connection as the use cases pass them around. Documents and partition bodies
are opaque bytes here: the server never decodes what a client serialized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from artimeta_server.domain.blobs.models import StoredDocument


@dataclass(frozen=True, slots=True)
class Graph:
    name: str
    fingerprint: int
    document: bytes
    document_format: str
    code_refs: tuple[str, ...]
    create_time: datetime | None = None
    document_size: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    name: str
    fingerprint: int
    snapshot_id: int
    graph_fingerprint: int
    document: bytes
    document_format: str
    code_refs: tuple[str, ...]
    create_time: datetime | None = None
    document_size: int = 0


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """A graph or a snapshot as its row keeps it: the document inline or by digest (lists carry
    no document at all); a graph's snapshot_id and graph_fingerprint are 0."""

    name: str
    fingerprint: int
    snapshot_id: int
    graph_fingerprint: int
    document: StoredDocument
    document_size: int
    document_format: str
    code_refs: tuple[str, ...]
    create_time: datetime | None


def graph_of(row: DocumentRow, document: bytes) -> Graph:
    return Graph(
        row.name, row.fingerprint, document, row.document_format, row.code_refs, row.create_time, len(document)
    )


def snapshot_of(row: DocumentRow, document: bytes) -> Snapshot:
    return Snapshot(
        row.name,
        row.fingerprint,
        row.snapshot_id,
        row.graph_fingerprint,
        document,
        row.document_format,
        row.code_refs,
        row.create_time,
        len(document),
    )


@dataclass(frozen=True, slots=True)
class SnapshotTag:
    """A named, movable pointer from a graph to one of its snapshots."""

    name: str
    tag: str
    snapshot_fingerprint: int
    actor: str
    update_time: datetime | None


@dataclass(frozen=True, slots=True)
class SnapshotTagWritten:
    """The outcome of a snapshot tag write: the tag as it now is, and where it pointed before
    (None when the write created it)."""

    tag: SnapshotTag
    previous_snapshot_fingerprint: int | None


@dataclass(frozen=True, slots=True)
class SnapshotTagMove:
    """One entry of a snapshot tag's history."""

    sequence: int
    name: str
    tag: str
    from_snapshot_fingerprint: int | None
    to_snapshot_fingerprint: int
    actor: str
    move_time: datetime | None


@dataclass(frozen=True, slots=True)
class PartitionBatch:
    """Partitions of one write, column by column, already in canonical form.

    `bodies[i]` is the canonical encoding of partition i (which the client gets back on reads),
    `idents[i]` its identity (domain/connection/partitions.py), `keys[i]` the canonical encoding
    of its composite key, `input_fingerprints[i]` its input fingerprint or None for the empty
    fingerprint."""

    idents: list[bytes]
    keys: list[bytes]
    input_fingerprints: list[int | None]
    bodies: list[bytes]

    def __len__(self) -> int:
        return len(self.idents)


@dataclass(frozen=True, slots=True)
class StoredPartitions:
    """A PartitionBatch as rows keep it: large bodies replaced by blob digests."""

    idents: list[bytes]
    keys: list[bytes]
    input_fingerprints: list[int | None]
    inline_bodies: list[bytes | None]
    body_hashes: list[str | None]
    body_sizes: list[int]


@dataclass(frozen=True, slots=True)
class InputFilter:
    """Wanted (keys, input fingerprint) pairs; a partition matches when both are equal."""

    keys: list[bytes]
    fingerprints: list[int | None]


# A partition body as storage returns it: inline, or (hash, size) of a body in the blob store.
BodyRow = tuple[bytes | None, str | None, int]
