"""What request ids need from storage (the ledger) and from namespaces (ids by name)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from artimeta_server.domain.request_ids.models import Outcome, RequestKey


class RequestLedger(Protocol):
    """Where outcomes are kept; storage/request_ledger.py implements it."""

    def pinned(self) -> AbstractAsyncContextManager[None]:
        """One database session for everything the block does (reads, units of work)."""
        ...

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        """One transaction that every repository call made inside the block joins."""
        ...

    async def recall(self, key: RequestKey, max_age_s: float) -> Outcome | None:
        """The outcome remembered for key within the last max_age_s seconds."""
        ...

    async def remember(self, key: RequestKey, outcome: Outcome, max_age_s: float) -> bool:
        """Stores the outcome (in the current unit of work, if any) unless one younger than
        max_age_s is already there; False then. One statement."""
        ...

    async def forget_older_than(self, max_age_s: float) -> int:
        """Deletes outcomes older than max_age_s; how many."""
        ...
