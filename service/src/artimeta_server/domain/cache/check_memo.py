"""Cache-check hits remembered per namespace, kept fresh by the change feed (domain/fresh.py).

A hit depends on rows of several tables (the execution's newest job, the newest call node of the
task and arguments, the evaluation row, the value), any of which a write can add or move. Rather
than announce a key per row a hit read, every write to those tables announces the namespace's
one check key (`cache_checks_key`); it holds the namespace's current epoch, and a remembered hit is
stored under (namespace, epoch, query), so evicting the key forgets every hit of the namespace at
once (the old entries are unreachable and age out of the LRU). Only hits are remembered: a miss
stays a database read. Checks with a context hash are not remembered: their answer depends on
tags, which the tag service writes without announcing here. Values stored as blobs are not
remembered either (the memory holds inline bytes only)."""

from __future__ import annotations

import itertools
from collections.abc import Hashable

from artimeta_server.domain.cache.models import CacheQuery, CheckResult
from artimeta_server.domain.fresh import FreshCache, cache_checks_key

# Per remembered hit, beyond its value's bytes: the key's hashes and the result object.
_ENTRY_BYTES = 512
_EPOCH_BYTES = 64


def query_key(q: CacheQuery) -> Hashable:
    return (
        q.task_hash,
        q.args_hash,
        q.eval_hash,
        q.execution_id,
        tuple(q.scheduler_task_hashes),
        q.want_cse,
        q.want_ultimate,
        q.want_single,
    )


class CheckMemo:
    def __init__(self, fresh: FreshCache[object]) -> None:
        self._fresh = fresh
        self._epochs = itertools.count(1)

    def get(self, ns: int, query: Hashable) -> CheckResult | None:
        epoch = self._fresh.get(cache_checks_key(ns))
        if epoch is None:
            return None
        hit = self._fresh.get(("cr", ns, epoch, query))
        return hit if isinstance(hit, CheckResult) else None

    def ticket(self) -> int:
        """Taken before the database read whose hit put() may remember."""
        return self._fresh.ticket()

    def put(self, ns: int, query: Hashable, result: CheckResult, ticket: int) -> None:
        if result.kind == "MISS" or result.value is None or ticket != self._fresh.generation:
            return
        key = cache_checks_key(ns)
        epoch = self._fresh.get(key)
        if epoch is None:
            epoch = next(self._epochs)
            self._fresh.put(key, epoch, _EPOCH_BYTES, ticket)
        size = _ENTRY_BYTES + len(result.value.data) + 48 * len(result.subtree_task_hashes)
        self._fresh.put(("cr", ns, epoch, query), result, size, ticket)

    def wrote(self, ns: int) -> None:
        """This replica wrote rows a check reads: forget the namespace's hits before replying."""
        self._fresh.changed((cache_checks_key(ns),))
