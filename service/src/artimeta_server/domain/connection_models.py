"""Records of arti's Connection as the use cases pass them around. Documents and partition bodies
are opaque bytes here: the server never decodes what a client serialized."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from artimeta_server.domain.blobs.models import StoredDocument

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GraphRecord:
    name: str
    fingerprint: int
    document: bytes
    document_format: str
    code_refs: tuple[str, ...]
    create_time: datetime | None = None
    document_size: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
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
class StoredRecord:
    """A graph or snapshot row as storage keeps it (document inline or by digest)."""

    name: str
    fingerprint: int
    snapshot_id: int
    graph_fingerprint: int
    document: StoredDocument
    document_size: int
    document_format: str
    code_refs: tuple[str, ...]
    create_time: datetime | None


@dataclass(frozen=True, slots=True)
class TagRecord:
    name: str
    tag: str
    snapshot_fingerprint: int
    actor: str
    update_time: datetime | None


@dataclass(frozen=True, slots=True)
class TagWrite:
    tag: TagRecord
    previous_snapshot_fingerprint: int | None


@dataclass(frozen=True, slots=True)
class TagMove:
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
    `idents[i]` a 16-byte hash of it (a partition is identified by its full value), `keys[i]` the
    canonical encoding of its composite key, `input_fingerprints[i]` its input fingerprint or
    None for the empty fingerprint."""

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


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str
