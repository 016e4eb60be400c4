"""How often one peer may fail to authenticate."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FailureBudget:
    """A token bucket of `burst` failures refilled at `per_s` a second, per peer. Only failures
    spend it, so a peer whose tokens are good is never slowed."""

    per_s: float = 10.0
    burst: float = 50.0
    clock: Callable[[], float] = time.monotonic
    max_peers: int = 10_000
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # peer -> (level, stamp)

    @property
    def enabled(self) -> bool:
        return self.per_s > 0

    def _level(self, peer: str, now: float) -> float:
        level, stamp = self._buckets.get(peer, (self.burst, now))
        return min(self.burst, level + (now - stamp) * self.per_s)

    def retry_after(self, peer: str) -> float | None:
        """Seconds until `peer` may fail again; None while it has budget left."""
        if not self.enabled:
            return None
        level = self._level(peer, self.clock())
        return None if level >= 1.0 else (1.0 - level) / self.per_s

    def spend(self, peer: str) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if peer not in self._buckets and len(self._buckets) >= self.max_peers:
            # Forget the peers whose buckets have refilled: they are where a new one would start.
            self._buckets = {p: b for p, b in self._buckets.items() if self._level(p, now) < self.burst}
            if len(self._buckets) >= self.max_peers:
                self._buckets.clear()
        self._buckets[peer] = (self._level(peer, now) - 1.0, now)
