"""What the tag use cases need from storage (implemented by storage/tags/)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from artimeta_server.domain.tags.models import NewTag, Tag


class TagUnit(Protocol):
    """Reads and writes of one entity's tags inside one transaction that holds its lock."""

    async def current_hashes(self, keys: Sequence[str]) -> list[str]: ...

    async def matching_current(self, pairs: Sequence[tuple[str, str]], keys: Sequence[str]) -> list[str]:
        """Current tags of the entity whose (key, canonical JSON value) is in pairs or key in keys."""
        ...

    async def superseded(self, hashes: Sequence[str]) -> set[str]:
        """Those of `hashes` that some tag edit already supersedes."""
        ...

    async def write(self, tags: Sequence[NewTag], parents: Sequence[str]) -> None:
        """Inserts the tags (if absent) and their edit edges; marks parents not current."""
        ...

    async def rows(self, hashes: Sequence[str]) -> list[Tag]: ...


class TagRepository(Protocol):
    def unit(self, ns: int, entity_id: str) -> AbstractAsyncContextManager[TagUnit]: ...

    async def get_current(self, ns: int, entity_ids: Sequence[str]) -> list[Tag]: ...

    async def history(self, ns: int, entity_id: str, key: str) -> list[Tag]: ...

    async def search(
        self, ns: int, key: str, value_json: str | None, entity_type: str | None, after_seq: int | None, limit: int
    ) -> list[Tag]: ...
