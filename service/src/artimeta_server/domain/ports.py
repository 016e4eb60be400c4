"""What the domain needs from storage. storage/ implements these; tests may use the real ones only."""

from __future__ import annotations

from typing import Protocol

from artimeta_server.domain.digests import Digest


class BlobStore(Protocol):
    async def put(self, namespace_id: int, data: bytes) -> Digest:
        """Stores bytes under their digest unless already present; returns the digest."""
        ...

    async def get(self, namespace_id: int, digest: Digest) -> bytes:
        """The bytes of a digest, verified; NotFound when absent, Internal-level error when corrupt."""
        ...

    async def exists(self, namespace_id: int, digest: Digest) -> bool: ...

    async def delete_namespace(self, namespace_id: int) -> int:
        """Removes every object of a namespace; returns how many were removed."""
        ...

    async def ping(self) -> None: ...
