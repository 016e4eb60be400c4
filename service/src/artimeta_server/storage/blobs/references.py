"""Every column that references a blob by digest. Garbage collection keeps a blob while any row
listed here points at it, so a table that stores digests must be added here in the same change
that creates it.

The blob index itself (table `blobs`) is not a reference: gc keeps an indexed blob only while
its last use is within the grace period."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlobReference:
    table: str
    namespace_column: str  # the namespace id (BIGINT)
    hash_column: str  # lower-case hex sha256 (TEXT)
    size_column: str  # BIGINT


BLOB_REFERENCES: list[BlobReference] = [
    # One entry per (table, digest column); appended by each feature that stores digests.
    BlobReference("arti_graphs", "namespace_id", "document_hash", "document_size"),
    BlobReference("arti_snapshots", "namespace_id", "document_hash", "document_size"),
    BlobReference("arti_storage_partitions", "namespace_id", "body_hash", "body_size"),
    BlobReference("arti_snapshot_partitions", "namespace_id", "body_hash", "body_size"),
    BlobReference("blob_keys", "namespace_id", "hash", "size"),
    BlobReference("blob_uploads", "namespace_id", "hash", "size"),
    BlobReference("record_entries", "namespace_id", "hash", "size"),
    BlobReference("cache_values", "namespace_id", "blob_hash", "blob_size"),
    BlobReference("opstore_versions", "namespace_id", "bytes_hash", "bytes_size"),
]
