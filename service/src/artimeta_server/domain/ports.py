"""What the domain needs from storage. storage/ implements these; tests may use the real ones only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from artimeta_server.domain.models import Namespace


class NamespaceRepository(Protocol):
    async def create(self, name: str, description: str, labels: Mapping[str, str]) -> Namespace: ...

    async def get(self, name: str) -> Namespace: ...

    async def page(self, after: str | None, limit: int) -> list[Namespace]: ...

    async def delete(self, name: str) -> Namespace | None:
        """Deletes the row (cascading to everything in it) and leaves a tombstone for its blobs."""
        ...

    async def tombstones(self) -> list[int]: ...

    async def clear_tombstone(self, namespace_id: int, *, older_than_s: float = 0.0) -> None:
        """Removes the tombstone if it is at least older_than_s old."""
        ...
