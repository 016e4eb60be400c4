"""Content identity of bytes: sha256 + size, the form every blob is addressed by."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Digest:
    hash: str  # lower-case hex sha256
    size: int

    @classmethod
    def of(cls, data: bytes) -> Digest:
        return cls(hashlib.sha256(data).hexdigest(), len(data))

    @classmethod
    def parse(cls, hash_hex: str, size: int, *, field: str = "digest") -> Digest:
        if not _HEX64.match(hash_hex):
            raise InvalidArgument(
                f"{field}.hash must be 64 lower-case hex characters (sha256)",
                reason=Reason.INVALID_DIGEST,
                metadata={"field": field},
            )
        if size < 0:
            raise InvalidArgument(f"{field}.size is negative", reason=Reason.INVALID_DIGEST, metadata={"field": field})
        return cls(hash_hex, size)

    def __str__(self) -> str:
        return f"{self.hash}/{self.size}"
