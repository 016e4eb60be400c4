"""Where a value's bytes live: inline in its row when small, in the blob store when large, and
the rule that a value whose bytes are gone reads as absent."""

from __future__ import annotations

from collections.abc import Sequence

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.cache.models import StoredValue, ValueIn, ValueOut
from artimeta_server.domain.cache.ports import ValueBlobs, ValueRepository
from artimeta_server.domain.errors import DataLoss, InvalidArgument, NotFound
from artimeta_server.domain.reasons import Reason

VALUE_BLOB_THRESHOLD = 1024


class ValueStore:
    def __init__(
        self,
        repo: ValueRepository,
        blobs: ValueBlobs,
        *,
        blob_threshold: int = VALUE_BLOB_THRESHOLD,
        max_value_bytes: int = 1 << 30,
    ) -> None:
        self.repo = repo
        self._blobs = blobs
        self.blob_threshold = blob_threshold
        self.max_value_bytes = max_value_bytes

    def check(self, v: ValueIn, field: str) -> None:
        ch.check_hash(v.value_hash, field=f"{field}.value_hash")
        ch.check_text(v.type_name, field=f"{field}.type_name")
        ch.check_text(v.format, field=f"{field}.format", required=False)
        if len(v.data) > self.max_value_bytes:
            raise InvalidArgument(
                f"{field} is {len(v.data)} bytes; at most {self.max_value_bytes} are allowed",
                reason=Reason.VALUE_TOO_LARGE,
                metadata={"field": field, "limit": str(self.max_value_bytes)},
            )

    async def store(self, ns: int, values: Sequence[ValueIn]) -> list[StoredValue]:
        """The rows to write for the values, once each. Large values go to the blob store before
        the rows that reference them are written; a large value already recorded is left out."""
        unique = list({v.value_hash: v for v in values}.values())
        large = [v for v in unique if len(v.data) >= self.blob_threshold]
        present = await self.repo.existing_values(ns, [v.value_hash for v in large]) if large else set()
        out = []
        for v in unique:
            if len(v.data) >= self.blob_threshold:
                if v.value_hash in present:
                    continue
                digest = await self._blobs.put(ns, v.data)
                out.append(StoredValue(v.value_hash, v.type_name, v.format, None, digest, len(v.data)))
            else:
                out.append(StoredValue(v.value_hash, v.type_name, v.format, v.data, None, len(v.data)))
        return out

    async def load(self, ns: int, stored: StoredValue | None) -> ValueOut | None:
        """The value's bytes, or None when they are gone from (or corrupt in) the blob store."""
        if stored is None:
            return None
        if stored.data is not None:
            return ValueOut(stored.value_hash, stored.type_name, stored.format, stored.data)
        assert stored.blob is not None
        try:
            data = await self._blobs.get(ns, stored.blob)
        except (NotFound, DataLoss):
            return None
        return ValueOut(stored.value_hash, stored.type_name, stored.format, data)
