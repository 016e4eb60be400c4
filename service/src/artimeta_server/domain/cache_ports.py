"""What the cache and tag use cases need from storage."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
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
from artimeta_server.domain.tag_models import TagRow, TagWrite


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


class TagUnit(Protocol):
    """Reads and writes of one entity's tags inside one transaction that holds its lock."""

    async def current_hashes(self, keys: Sequence[str]) -> list[str]: ...

    async def matching_current(self, pairs: Sequence[tuple[str, str]], keys: Sequence[str]) -> list[str]:
        """Current tags of the entity whose (key, canonical JSON value) is in pairs or key in keys."""
        ...

    async def superseded(self, hashes: Sequence[str]) -> set[str]:
        """Those of `hashes` that some tag edit already supersedes."""
        ...

    async def write(self, writes: Sequence[TagWrite], parents: Sequence[str]) -> None:
        """Inserts the tags (if absent) and their edit edges; marks parents not current."""
        ...

    async def rows(self, hashes: Sequence[str]) -> list[TagRow]: ...


class TagRepository(Protocol):
    def unit(self, ns: int, entity_id: str) -> AbstractAsyncContextManager[TagUnit]: ...

    async def get_current(self, ns: int, entity_ids: Sequence[str]) -> list[TagRow]: ...

    async def history(self, ns: int, entity_id: str, key: str) -> list[TagRow]: ...

    async def search(
        self, ns: int, key: str, value_json: str | None, entity_type: str | None, after_seq: int | None, limit: int
    ) -> list[TagRow]: ...
