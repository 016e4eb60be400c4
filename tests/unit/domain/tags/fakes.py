"""In-memory ports of TagService: what storage/tags/ does, kept in dicts."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime

from artimeta_server.domain.tags.models import NewTag, Tag

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeTagStore:
    def __init__(self) -> None:
        self.tags: dict[tuple[int, str], Tag] = {}
        self.edits: set[tuple[int, str, str]] = set()  # (namespace, parent, child)
        self.seq = itertools.count(1)

    def with_parents(self, ns: int, tag: Tag) -> Tag:
        parents = sorted(p for n, p, c in self.edits if n == ns and c == tag.tag_hash)
        return replace(tag, parents=parents)


class FakeTagUnit:
    def __init__(self, store: FakeTagStore, ns: int, entity_id: str) -> None:
        self._s = store
        self._ns = ns
        self._entity = entity_id

    def _current(self) -> list[Tag]:
        rows = [t for (n, _), t in self._s.tags.items() if n == self._ns and t.entity_id == self._entity]
        return sorted((t for t in rows if t.is_current), key=lambda t: t.seq)

    async def current_hashes(self, keys: Sequence[str]) -> list[str]:
        return [t.tag_hash for t in self._current() if t.key in keys]

    async def matching_current(self, pairs: Sequence[tuple[str, str]], keys: Sequence[str]) -> list[str]:
        wanted = {(k, json.loads(v)) for k, v in pairs if True}
        return [t.tag_hash for t in self._current() if t.key in keys or (t.key, json.loads(t.value_json)) in wanted]

    async def superseded(self, hashes: Sequence[str]) -> set[str]:
        return {p for n, p, _ in self._s.edits if n == self._ns and p in hashes}

    async def write(self, tags: Sequence[NewTag], parents: Sequence[str]) -> None:
        for t in tags:
            self._s.tags.setdefault(
                (self._ns, t.tag_hash),
                Tag(t.tag_hash, next(self._s.seq), t.entity_type, t.entity_id, t.key, t.value_json, True, NOW),
            )
            self._s.edits.update((self._ns, p, t.tag_hash) for p in parents)
        for p in parents:
            if (self._ns, p) in self._s.tags:
                self._s.tags[(self._ns, p)] = replace(self._s.tags[(self._ns, p)], is_current=False)

    async def rows(self, hashes: Sequence[str]) -> list[Tag]:
        return [
            self._s.with_parents(self._ns, self._s.tags[(self._ns, h)]) for h in hashes if (self._ns, h) in self._s.tags
        ]


class FakeTagRepository:
    def __init__(self) -> None:
        self.store = FakeTagStore()

    @asynccontextmanager
    async def unit(self, ns: int, entity_id: str) -> AsyncIterator[FakeTagUnit]:
        yield FakeTagUnit(self.store, ns, entity_id)

    def _all(self, ns: int) -> list[Tag]:
        rows = [self.store.with_parents(ns, t) for (n, _), t in self.store.tags.items() if n == ns]
        return sorted(rows, key=lambda t: t.seq)

    async def get_current(self, ns: int, entity_ids: Sequence[str]) -> list[Tag]:
        return [t for t in self._all(ns) if t.entity_id in entity_ids and t.is_current]

    async def history(self, ns: int, entity_id: str, key: str) -> list[Tag]:
        return [t for t in self._all(ns) if t.entity_id == entity_id and t.key == key]

    async def search(
        self, ns: int, key: str, value_json: str | None, entity_type: str | None, after_seq: int | None, limit: int
    ) -> list[Tag]:
        rows = [
            t
            for t in self._all(ns)
            if t.key == key
            and t.is_current
            and (value_json is None or json.loads(t.value_json) == json.loads(value_json))
            and (entity_type is None or t.entity_type == entity_type)
            and (after_seq is None or t.seq > after_seq)
        ]
        return rows[:limit]
