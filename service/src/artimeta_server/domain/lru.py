"""The one in-process cache of the server: least recently used first out, bounded by the bytes
its entries hold, never by their count (a count bounds nothing when one entry can be 20 MB).

Each caller states what an entry holds (payload bytes); the cache adds a fixed overhead per
entry for the key, the value object and its bookkeeping, so that many tiny entries are bounded
too. An entry larger than a quarter of the cache is not kept at all: it would flush everything
else, and a caller that reads it again pays what it paid the first time. Keys must be what
callers can be trusted to repeat; keep only values that cannot go stale, or store their expiry."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")

# Measured in CPython 3.11: an OrderedDict slot, the (value, size) tuple and a small tuple key.
ENTRY_OVERHEAD = 256


class BoundedCache(Generic[V]):
    def __init__(self, *, max_bytes: int, max_entry_bytes: int | None = None) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_bytes // 4 if max_entry_bytes is None else min(max_entry_bytes, max_bytes)
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        hit = self._items.get(key)
        if hit is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return hit[0]

    def put(self, key: Hashable, value: V, size: int) -> bool:
        """Keeps `value` (holding about `size` bytes) under `key`; False when it is too large to keep."""
        cost = max(0, size) + ENTRY_OVERHEAD
        self.discard(key)
        if cost > self.max_entry_bytes:
            return False
        self._items[key] = (value, cost)
        self._bytes += cost
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped
        return True

    def discard(self, key: Hashable) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        """Bytes held now, overheads included; never above max_bytes."""
        return self._bytes
