"""What RecordService's use cases pass around. A record is one directory of files kept as a
manifest: entries (files, folders, symlinks), metadata and relations to other records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from artimeta_server.domain.digests import Digest

# Entry kinds, as numbered on the wire (RecordEntry.Kind).
FILE, DIRECTORY, SYMLINK = 1, 2, 3


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    kind: int
    mode: int = 0
    digest: Digest | None = None
    mtime_ns: int = 0
    link_target: str = ""


@dataclass(frozen=True, slots=True)
class Relation:
    related_uuid: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    uuid: str
    metadata: dict[str, str]
    relations: list[Relation]
    entries: list[Entry]
    file_count: int
    total_size: int
    create_time: datetime | None = None
    update_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordPage:
    records: list[Record] = field(default_factory=list)
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class Containment:
    """Whether a record is indexed and how many of its file blobs are gone: it is contained only
    when both hold, so a reader never retrieves a record with holes."""

    indexed: bool
    missing_blobs: int

    @property
    def contains(self) -> bool:
        return self.indexed and self.missing_blobs == 0
