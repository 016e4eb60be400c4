"""What BlobService's use cases pass around."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from artimeta_server.domain.digests import Digest


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime | None


@dataclass(frozen=True, slots=True)
class KeyEntry:
    key: str
    digest: Digest
    update_time: datetime | None


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """An upload in flight as the index keeps it: gc reclaims its object once expire_time passed."""

    namespace_id: int
    upload_id: str
    digest: Digest | None
    object_key: str
    s3_upload_id: str | None
    expire_time: datetime


@dataclass(frozen=True, slots=True)
class UploadPiece:
    digest: Digest | None
    data: bytes


@dataclass(frozen=True, slots=True)
class UploadResult:
    digest: Digest
    already_present: bool


@dataclass(frozen=True, slots=True)
class Capabilities:
    max_message_bytes: int
    chunk_size_bytes: int
    max_batch_items: int
    max_batch_total_bytes: int
    max_blob_bytes: int
    max_find_missing_items: int
    presigned_urls: bool


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    already_present: bool
    upload_id: str
    url: str
    expire_time: datetime | None


@dataclass(frozen=True, slots=True)
class KeyPage:
    entries: list[KeyEntry]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A metadata document as a row keeps it: inline bytes, or a digest in the blob store."""

    inline: bytes | None
    digest: Digest | None
