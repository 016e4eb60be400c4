"""The read cache's rules without a database: a fill that started before an eviction is refused,
nothing is served or kept while the change feed is down, and entries expire after the TTL."""

from __future__ import annotations

import time

from artimeta_server.domain.fresh import FreshCache, key_from_text, key_text, namespace_key, tag_key


def _live(ttl_s: float = 60.0) -> FreshCache[str]:
    cache: FreshCache[str] = FreshCache(max_bytes=1 << 20, ttl_s=ttl_s)
    cache.restored()
    return cache


def test_a_fill_that_started_before_an_eviction_is_refused() -> None:
    cache = _live()
    key = tag_key(1, "g", "prod")
    ticket = cache.ticket()  # a read starts, sees the old row ...
    cache.changed([key])  # ... the row moves and is announced ...
    cache.put(key, "old", 3, ticket)  # ... and the read finishes
    assert cache.get(key) is None
    fresh = cache.ticket()
    cache.put(key, "new", 3, fresh)
    assert cache.get(key) == "new"


def test_nothing_is_served_or_kept_while_the_feed_is_down() -> None:
    cache = _live()
    key = namespace_key("a")
    cache.put(key, "v", 1, cache.ticket())
    ticket = cache.ticket()
    cache.lost()
    assert cache.get(key) is None
    cache.put(key, "v2", 2, cache.ticket())
    assert cache.get(key) is None
    cache.restored()
    assert cache.get(key) is None, "flushed again on reconnect"
    cache.put(key, "v3", 2, ticket)  # taken before the loss
    assert cache.get(key) is None


def test_not_live_until_the_feed_listens() -> None:
    cache: FreshCache[str] = FreshCache(max_bytes=1 << 20, ttl_s=60.0)
    cache.put(("n", "a"), "v", 1, cache.ticket())
    assert cache.get(("n", "a")) is None


def test_entries_expire_after_the_ttl() -> None:
    cache = _live(ttl_s=0.05)
    cache.put(("n", "a"), "v", 1, cache.ticket())
    assert cache.get(("n", "a")) == "v"
    time.sleep(0.06)
    assert cache.get(("n", "a")) is None


def test_keys_survive_the_feed_text() -> None:
    for key in (tag_key(7, 'a "b"\n', "ü"), namespace_key("x-y")):
        assert key_from_text(key_text(key)) == key
