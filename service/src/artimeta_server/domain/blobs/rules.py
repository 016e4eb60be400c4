"""BlobService's limits and the checks and errors its use cases share."""

from __future__ import annotations

import uuid

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.reasons import Reason

CHUNK_BYTES = 4 * 1024 * 1024
# Memory per upload is about (PARTS_IN_FLIGHT + 1) parts, whatever the blob's size.
PART_BYTES = 8 * 1024 * 1024
PARTS_IN_FLIGHT = 3
MAX_BLOB_BYTES = 5 * 1024**4  # S3's largest object
MAX_BATCH_ITEMS = 10_000
MAX_FIND_MISSING = 100_000
MAX_KEY_CHARS = 1024
# A blob used within this window is not touched again; gc's grace must be longer than this.
TOUCH_AFTER_S = 300.0
# gc leaves a streaming multipart upload alone until its lease expires; the lease is renewed
# while bytes keep arriving (after a third of it has passed), so only a stalled upload lapses.
UPLOAD_LEASE_S = 6 * 3600.0
# How often a write is repeated when the object it wrote was deleted under it (a gc or DeleteBlob
# that decided before the write landed) before the call fails with ABORTED.
WRITE_ATTEMPTS = 3
# Streaming uploads of one process receiving bytes at once; more wait for a slot, holding only
# their first message. A stream silent for upload_idle_s gives its slot back (ABORTED).
UPLOAD_SLOTS = 4
UPLOAD_IDLE_S = 300.0
# Object-store calls in the air for FindMissing and batches, across all requests of a process.
STORE_FANOUT = 8
DEFAULT_URL_EXPIRY_S = 900
MAX_URL_EXPIRY_S = 7 * 24 * 3600


def mismatch(expected: Digest, actual: Digest) -> FailedPrecondition:
    meta = {"expected": str(expected), "actual": str(actual)}
    if expected.size != actual.size:
        return FailedPrecondition(
            f"received {actual.size} bytes, the digest says {expected.size}; nothing was stored",
            reason=Reason.SIZE_MISMATCH,
            metadata=meta,
        )
    return FailedPrecondition(
        f"the bytes hash to {actual.hash}, not {expected.hash}; nothing was stored",
        reason=Reason.DIGEST_MISMATCH,
        metadata=meta,
    )


def blob_not_found(digest: Digest) -> NotFound:
    return NotFound(f"blob {digest} does not exist", reason=Reason.BLOB_NOT_FOUND, metadata={"digest": str(digest)})


def blob_raced(digest: Digest) -> Aborted:
    return Aborted(
        f"blob {digest} was deleted while it was being stored; upload it again",
        reason=Reason.BLOB_DELETED_DURING_WRITE,
        metadata={"digest": str(digest)},
    )


def validate_key(key: str) -> str:
    if not key:
        raise InvalidArgument("key is empty", reason=Reason.INVALID_KEY, metadata={"field": "key"})
    if len(key) > MAX_KEY_CHARS or "\x00" in key:
        raise InvalidArgument(
            f"key must be at most {MAX_KEY_CHARS} characters without NUL",
            reason=Reason.INVALID_KEY,
            metadata={"field": "key"},
        )
    return key


def url_expiry(requested: int) -> int:
    """The lifetime in seconds of a presigned URL: the default for 0, refused past a week."""
    if requested < 0 or requested > MAX_URL_EXPIRY_S:
        raise InvalidArgument(
            f"expires_in_seconds must be between 0 and {MAX_URL_EXPIRY_S}",
            reason=Reason.INVALID_EXPIRY,
            metadata={"field": "expires_in_seconds"},
        )
    return requested or DEFAULT_URL_EXPIRY_S


def check_size(digest: Digest) -> None:
    if digest.size > MAX_BLOB_BYTES:
        raise InvalidArgument(
            f"blobs are at most {MAX_BLOB_BYTES} bytes", reason=Reason.BLOB_TOO_LARGE, metadata={"field": "digest"}
        )


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
