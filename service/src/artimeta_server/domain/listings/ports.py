"""What the list views of redun executions and chariots ops need from storage."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from artimeta_server.domain.listings.models import ExecutionSummary, OpSummary


class ListingRepository(Protocol):
    async def executions(self, ns: int, after: tuple[datetime, str] | None, limit: int) -> list[ExecutionSummary]:
        """Newest first by (create_time, id), strictly after the keyset position."""
        ...

    async def ops(self, ns: int, prefix: str, after: str | None, limit: int) -> list[OpSummary]:
        """By name, strictly after the keyset position."""
        ...
