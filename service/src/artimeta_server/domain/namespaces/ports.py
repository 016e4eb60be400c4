"""What the namespace use cases need from storage and from the blob store, and the namespace-id
resolution every other service's use cases need."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from artimeta_server.domain.namespaces.models import Namespace


class NamespaceIds(Protocol):
    async def resolve(self, name: str) -> int:
        """The id of a namespace, NotFound if it does not exist."""
        ...


class NamespaceRepository(Protocol):
    async def create(self, name: str, description: str, labels: Mapping[str, str]) -> Namespace:
        """AlreadyExists (NAMESPACE_EXISTS) when the name is taken."""
        ...

    async def get(self, name: str) -> Namespace:
        """NotFound (NAMESPACE_NOT_FOUND) when there is no such namespace."""
        ...

    async def page(self, after: str | None, limit: int) -> list[Namespace]:
        """By name, strictly after `after`."""
        ...

    async def delete(self, name: str) -> Namespace | None:
        """Deletes the row (cascading to everything in it) and leaves a tombstone for its blobs."""
        ...

    async def tombstones(self) -> list[int]: ...

    async def clear_tombstone(self, namespace_id: int, *, older_than_s: float = 0.0) -> None:
        """Removes the tombstone if it is at least older_than_s old."""
        ...


class NamespaceBlobs(Protocol):
    """The one thing deleting a namespace asks of the blob store (domain/ports.BlobStore has it)."""

    async def delete_namespace(self, namespace_id: int) -> int:
        """Removes every object of a namespace; returns how many were removed."""
        ...
