"""What the op store needs from storage."""

from __future__ import annotations

from typing import Protocol

from artimeta_server.domain.digests import Digest
from artimeta_server.domain.opstore.models import OpVersion


class OpStoreRepository(Protocol):
    async def register(self, downstream: str | None, upstream: str, version: OpVersion, *, ns: int) -> OpVersion:
        """Get-or-create the op and version (numbered in the same transaction, under the op's row
        lock) and the link when a downstream op is named."""
        ...

    async def versions(self, ns: int, op_name: str) -> list[OpVersion]: ...

    async def validated(self, ns: int, downstream: str, upstream: str) -> list[OpVersion]: ...

    async def find_version(
        self, ns: int, op_name: str, version: OpVersion
    ) -> tuple[bool, OpVersion | None, Digest | None]:
        """(op exists, the stored version, its bytes' digest)."""
        ...

    async def set_bytes(self, ns: int, op_name: str, version: OpVersion, digest: Digest) -> bool:
        """Points the version at its bytes; False when the version row is gone."""
        ...

    async def pipeline_exists(self, ns: int, name: str) -> bool: ...

    async def register_pipeline(self, ns: int, name: str, last_op: str) -> None: ...
