"""What the list views of redun executions and chariots ops need from storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from artimeta_server.domain.opstore import OpVersion


@dataclass(frozen=True, slots=True)
class ExecutionSummary:
    id: str
    args: list[str]
    create_time: datetime
    updated_time: datetime
    root_job_id: str | None
    root_task_hash: str | None
    root_task_name: str | None
    start_time: datetime | None
    end_time: datetime | None
    status: str | None
    job_count: int
    cached_job_count: int


@dataclass(frozen=True, slots=True)
class OpSummary:
    name: str
    version_count: int
    latest: OpVersion | None


class ListingRepository(Protocol):
    async def executions(self, ns: int, after: tuple[datetime, str] | None, limit: int) -> list[ExecutionSummary]:
        """Newest first by (create_time, id), strictly after the keyset position."""
        ...

    async def ops(self, ns: int, prefix: str, after: str | None, limit: int) -> list[OpSummary]:
        """By name, strictly after the keyset position."""
        ...
