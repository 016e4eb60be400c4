"""One row of each list: a redun execution, a chariots op."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from artimeta_server.domain.opstore.models import OpVersion


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
