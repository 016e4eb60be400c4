"""What blobs are addressed and described by: `Digest` (sha256 + size), the server's
`Capabilities`, keyed entries, per-item batch errors, and the progress callback type."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import (
    Callable,
    Optional,
    Union,
)

import grpc
from google.rpc import error_details_pb2, status_pb2

from artimeta.errors import _BY_CODE, ArtimetaError
from artimeta.v1 import digest_pb2

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes in total; -1 when unknown) as a transfer moves."""

READ_CHUNK = 1024 * 1024
UPLOAD_CHUNK = 1024 * 1024

# Blobs up to this size travel in batches rather than one stream each.
SMALL_BLOB = 1024 * 1024


@dataclass(frozen=True)
class Digest:
    """sha256 + size: how every blob is addressed."""

    hash: str
    size: int

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    @classmethod
    def of_file(cls, path: Union[str, os.PathLike[str]]) -> Digest:
        h = hashlib.sha256()
        size = 0
        with open(path, "rb") as f:
            while True:
                block = f.read(READ_CHUNK)
                if not block:
                    break
                h.update(block)
                size += len(block)
        return cls(h.hexdigest(), size)

    @classmethod
    def from_proto(cls, msg: digest_pb2.Digest) -> Digest:
        return cls(msg.hash, msg.size_bytes)

    def to_proto(self) -> digest_pb2.Digest:
        return digest_pb2.Digest(hash=self.hash, size_bytes=self.size)

    def __str__(self) -> str:
        return f"{self.hash}/{self.size}"


@dataclass(frozen=True)
class Capabilities:
    max_message_bytes: int
    chunk_size_bytes: int
    max_batch_items: int
    max_batch_total_bytes: int
    max_blob_bytes: int
    max_find_missing_items: int
    presigned_urls: bool


@dataclass(frozen=True)
class KeyEntry:
    key: str
    digest: Digest


class ItemError(ArtimetaError):
    """One item of a batch failed; `index` says which."""

    def __init__(self, index: int, error: ArtimetaError) -> None:
        super().__init__(f"item {index}: {error}")
        self.index = index
        self.error = error
        self.reason = error.reason


def _item_error(status: status_pb2.Status) -> Optional[ArtimetaError]:
    """The typed error a per-item google.rpc.Status stands for, None when OK."""
    if status.code == 0:
        return None
    reason, meta = "", {}
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason, meta = info.reason, dict(info.metadata)
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    cls = _BY_CODE.get(code, ArtimetaError)
    return cls(status.message, code=code, reason=reason or code.name, metadata=meta)


_CODES = {c.value[0]: c for c in grpc.StatusCode}
