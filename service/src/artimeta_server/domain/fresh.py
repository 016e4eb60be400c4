"""Mutable rows served from memory, kept correct across replicas by a change feed.

Every write transaction announces the keys it changed; the announcement is delivered to every
replica when the transaction commits, and each evicts them. The writer's own replica evicts at
once, before it replies (read-your-writes). The cache serves nothing while the feed is down: a
notification missed then could leave a stale entry, so the cache is flushed when the feed is lost
and again when it is back, and bypassed in between.

A read that started before an eviction may finish after it with the old value; `ticket()` is
taken before the read and `put()` refuses the value if any eviction or flush happened since.
Entries also expire after `ttl_s`: the hard bound on staleness whatever the feed does (a
delivery that is late but not lost), while the feed's delivery time is the usual one."""

from __future__ import annotations

import json
import time
from collections.abc import Hashable, Iterable
from typing import Generic, Protocol, TypeVar

from artimeta_server.domain.lru import BoundedCache

V = TypeVar("V")


Key = tuple[object, ...]


def tag_key(namespace_id: int, name: str, tag: str) -> Key:
    """The change key of one snapshot tag: what its writers announce and its readers cache under."""
    return ("t", namespace_id, name, tag)


def namespace_key(name: str) -> Key:
    return ("n", name)


def cache_checks_key(namespace_id: int) -> Key:
    """The change key of everything a cache check reads in one namespace (jobs, call nodes, values,
    evaluations): one key per namespace, so a write announces once per transaction."""
    return ("c", namespace_id)


def key_text(key: Key) -> str:
    """A key as the text a change feed carries."""
    return json.dumps(key, separators=(",", ":"))


def key_from_text(text: str) -> Key:
    return tuple(json.loads(text))


class ChangeSink(Protocol):
    """What a change feed tells: keys changed by a committed transaction, the feed lost, the feed
    back (listening again, so every change committed from now on will be told)."""

    def changed(self, keys: Iterable[Key]) -> None: ...

    def lost(self) -> None: ...

    def restored(self) -> None: ...


class ChangeFeed(Protocol):
    """The port storage implements: deliver every replica's committed changes to `sink`."""

    async def start(self, sink: ChangeSink) -> None: ...

    async def close(self) -> None: ...


class FreshCache(Generic[V]):
    """A bounded LRU of mutable rows that a ChangeFeed keeps fresh; a ChangeSink itself."""

    def __init__(self, *, max_bytes: int, ttl_s: float) -> None:
        self._lru: BoundedCache[tuple[V, float]] = BoundedCache(max_bytes=max_bytes)
        self._ttl = ttl_s
        # Until the feed says it listens, nothing is served nor kept.
        self.live = False
        self.generation = 0
        self.evictions = 0
        self.flushes = 0

    def get(self, key: Hashable) -> V | None:
        if not self.live:
            return None
        hit = self._lru.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            self._lru.discard(key)
            return None
        return hit[0]

    def ticket(self) -> int:
        """Taken before reading the database; hand it to put()."""
        return self.generation

    def put(self, key: Hashable, value: V, size: int, ticket: int) -> None:
        if self.live and ticket == self.generation and self._ttl > 0:
            self._lru.put(key, (value, time.monotonic() + self._ttl), size)

    def changed(self, keys: Iterable[Key]) -> None:
        self.generation += 1
        for key in keys:
            self._lru.discard(key)
            self.evictions += 1

    def lost(self) -> None:
        self.live = False
        self._flush()

    def restored(self) -> None:
        self._flush()
        self.live = True

    def _flush(self) -> None:
        self.generation += 1
        self.flushes += 1
        self._lru.clear()

    @property
    def hits(self) -> int:
        return self._lru.hits

    def __len__(self) -> int:
        return len(self._lru)
