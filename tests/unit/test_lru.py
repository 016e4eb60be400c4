"""domain/lru.BoundedCache: bounded by bytes (payload plus a fixed overhead per entry), least
recently used out first, entries over a quarter of the budget never kept."""

from __future__ import annotations

from artimeta_server.domain.lru import ENTRY_OVERHEAD, BoundedCache


def test_bounded_by_bytes_and_keeps_recent_entries() -> None:
    cache: BoundedCache[str] = BoundedCache(max_bytes=10 * (ENTRY_OVERHEAD + 100))
    for i in range(30):
        assert cache.put(i, f"v{i}", 100)
        cache.get(0)
    assert cache.size_bytes <= cache.max_bytes and len(cache) == 10
    assert cache.get(0) == "v0" and cache.get(1) is None and cache.get(29) == "v29"


def test_tiny_entries_are_bounded_by_their_overhead() -> None:
    cache: BoundedCache[int] = BoundedCache(max_bytes=100 * ENTRY_OVERHEAD)
    for i in range(100_000):
        cache.put(i, i, 0)
    assert len(cache) == 100 and cache.size_bytes == 100 * ENTRY_OVERHEAD


def test_an_entry_over_a_quarter_is_not_kept_and_replaces_nothing() -> None:
    cache: BoundedCache[str] = BoundedCache(max_bytes=4 * 1024 * 1024)
    assert cache.put("small", "s", 10)
    assert not cache.put("huge", "x", 1024 * 1024)
    assert cache.get("huge") is None and cache.get("small") == "s"
    # A key that was kept and comes back too large is dropped, not left stale.
    assert not cache.put("small", "bigger", 2 * 1024 * 1024)
    assert cache.get("small") is None and cache.size_bytes == 0


def test_zero_bytes_keeps_nothing() -> None:
    cache: BoundedCache[str] = BoundedCache(max_bytes=0)
    assert not cache.put("k", "v", 0)
    assert len(cache) == 0


def test_replacing_and_discarding_keep_the_count_of_bytes() -> None:
    cache: BoundedCache[str] = BoundedCache(max_bytes=1024 * 1024)
    cache.put("k", "a", 1000)
    cache.put("k", "b", 2000)
    assert cache.size_bytes == 2000 + ENTRY_OVERHEAD and cache.get("k") == "b"
    cache.discard("k")
    cache.discard("k")
    assert cache.size_bytes == 0 and len(cache) == 0
