"""What the cache and tag use cases need from storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from artimeta_server.domain.cache_models import (
    CacheCandidate,
    CacheQuery,
    CallNodeIn,
    CallNodeRow,
    HandleIn,
    JobIn,
    JobRow,
    MissExplanation,
    StoredValue,
)


class CacheRepository(Protocol):
    async def insert_values(self, ns: int, values: Sequence[StoredValue]) -> int: ...

    async def get_values(self, ns: int, hashes: Sequence[str]) -> dict[str, StoredValue]: ...

    async def existing_values(self, ns: int, hashes: Sequence[str]) -> set[str]: ...

    async def insert_call_node(self, ns: int, node: CallNodeIn, values: Sequence[StoredValue]) -> None: ...

    async def get_call_node(self, ns: int, call_hash: str) -> CallNodeRow | None: ...

    async def cache_candidates(self, ns: int, query: CacheQuery) -> list[CacheCandidate]: ...

    async def set_eval_cache(
        self, ns: int, eval_hash: str, task_hash: str, args_hash: str, value_hash: str, value: StoredValue | None
    ) -> bool:
        """Upserts; False when the value is neither given nor recorded."""
        ...

    async def explain_cache_miss(self, ns: int, task_name: str, task_hash: str, args_hash: str) -> MissExplanation: ...

    async def record_execution(self, ns: int, exec_id: str, args: list[str]) -> None: ...

    async def record_updated_time(self, ns: int, exec_id: str) -> bool: ...

    async def record_job_start(self, ns: int, job: JobIn) -> None: ...

    async def record_job_end(self, ns: int, job: JobIn) -> None: ...

    async def get_job(self, ns: int, job_id: str) -> JobRow | None: ...

    async def advance_handle(
        self,
        ns: int,
        ancestors: Sequence[HandleIn],
        parents: Sequence[HandleIn],
        child: HandleIn,
        values: Sequence[StoredValue],
    ) -> None: ...

    async def rollback_handle(self, ns: int, handle_hash: str, fullname: str) -> int: ...

    async def is_valid_handle(self, ns: int, handle_hash: str) -> bool: ...

    async def get_records(self, ns: int, ids: Sequence[str]) -> list[tuple[str, dict[str, Any]]]: ...

    async def put_records(self, ns: int, records: Sequence[tuple[str, dict[str, Any]]]) -> int: ...

    async def child_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        """The ids owned by the given records (one breadth-first layer)."""
        ...

    async def known_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]: ...
