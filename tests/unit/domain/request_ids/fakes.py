"""An in-memory RequestLedger whose unit of work is a transaction: what the block wrote (the
outcome, and the work's own effects) is kept only when the block ends without an error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.reasons import Reason
from artimeta_server.domain.request_ids.models import Outcome, RequestKey


class FakeLedger:
    def __init__(self) -> None:
        self.clock = 0.0
        self.rows: dict[RequestKey, tuple[Outcome, float]] = {}
        self.effects: list[str] = []  # the work's writes, committed
        self._pending: tuple[dict[RequestKey, tuple[Outcome, float]], list[str]] | None = None
        self.pins = 0

    @asynccontextmanager
    async def pinned(self) -> AsyncIterator[None]:
        self.pins += 1
        yield

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[None]:
        assert self._pending is None, "units of work do not nest here"
        self._pending = (dict(self.rows), list(self.effects))
        try:
            yield
        except BaseException:
            self.rows, self.effects = self._pending
            raise
        finally:
            self._pending = None

    def write(self, effect: str) -> None:
        self.effects.append(effect)

    def commit_elsewhere(self, key: RequestKey, outcome: Outcome) -> None:
        """Another attempt's transaction commits its outcome (a rollback of this one keeps it)."""
        self.rows[key] = (outcome, self.clock)
        if self._pending is not None:
            self._pending[0][key] = (outcome, self.clock)

    def _live(self, key: RequestKey, max_age_s: float) -> Outcome | None:
        row = self.rows.get(key)
        if row is None or self.clock - row[1] >= max_age_s:
            return None
        return row[0]

    async def recall(self, key: RequestKey, max_age_s: float) -> Outcome | None:
        return self._live(key, max_age_s)

    async def remember(self, key: RequestKey, outcome: Outcome, max_age_s: float) -> bool:
        if self._live(key, max_age_s) is not None:
            return False
        self.rows[key] = (outcome, self.clock)
        return True

    async def forget_older_than(self, max_age_s: float) -> int:
        old = [k for k, (_, t) in self.rows.items() if self.clock - t >= max_age_s]
        for k in old:
            del self.rows[k]
        return len(old)


class FakeNamespaceIds:
    def __init__(self, ids: dict[str, int]) -> None:
        self.ids = ids

    async def resolve(self, name: str) -> int:
        try:
            return self.ids[name]
        except KeyError:
            raise NotFound(f"namespace {name!r} does not exist", reason=Reason.NAMESPACE_NOT_FOUND) from None
