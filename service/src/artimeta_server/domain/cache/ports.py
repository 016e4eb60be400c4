"""What the cache use cases need from storage: one repository per kind of row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from artimeta_server.domain.cache.models import (
    CacheCandidate,
    CacheQuery,
    CallNodeIn,
    CallNodeRow,
    CallRef,
    HandleIn,
    JobIn,
    JobRow,
    StoredValue,
)
from artimeta_server.domain.cache.sync_models import RecordBatch, SyncRecord
from artimeta_server.domain.digests import Digest


class NamespaceResolver(Protocol):
    async def resolve(self, name: str, *, strong: bool = False) -> int:
        """The id of a namespace by name; NotFound when there is none."""
        ...


class ValueBlobs(Protocol):
    """The blob store as values use it: bytes by digest."""

    async def put(self, namespace_id: int, data: bytes) -> Digest: ...

    async def get(self, namespace_id: int, digest: Digest) -> bytes:
        """The bytes, verified; NotFound when absent, DataLoss when corrupt."""
        ...


class ValueRepository(Protocol):
    async def insert_values(self, ns: int, values: Sequence[StoredValue]) -> int:
        """Inserts those absent; returns how many were."""
        ...

    async def get_values(self, ns: int, hashes: Sequence[str]) -> dict[str, StoredValue]: ...

    async def existing_values(self, ns: int, hashes: Sequence[str]) -> set[str]: ...


class CallGraphRepository(Protocol):
    async def insert_call_node(self, ns: int, node: CallNodeIn, values: Sequence[StoredValue]) -> None:
        """Writes the values and the node (edges only to recorded children) in one transaction."""
        ...

    async def get_call_node(self, ns: int, call_hash: str) -> CallNodeRow | None: ...

    async def newest_call_with_args(self, ns: int, task_name: str, args_hash: str) -> CallRef | None:
        """The newest call of a task of that name (any version) on these arguments."""
        ...

    async def newest_call_of_task(self, ns: int, task_hash: str) -> CallRef | None:
        """The newest call of this version of a task (any arguments)."""
        ...


class CacheCheckRepository(Protocol):
    async def cache_candidates(self, ns: int, query: CacheQuery) -> list[CacheCandidate]:
        """Every candidate the query asks for, in check order (CSE, ULTIMATE, SINGLE)."""
        ...


class EvaluationRepository(Protocol):
    async def set_eval_cache(
        self, ns: int, eval_hash: str, task_hash: str, args_hash: str, value_hash: str, value: StoredValue | None
    ) -> bool:
        """Upserts; False when the value is neither given nor recorded."""
        ...


class JobRepository(Protocol):
    async def add_execution(self, ns: int, exec_id: str, args: list[str]) -> None: ...

    async def touch_execution(self, ns: int, exec_id: str) -> bool:
        """Sets the execution's updated time to now; False when there is no such execution."""
        ...

    async def start_job(self, ns: int, job: JobIn) -> None:
        """Inserts the job if absent; a root job (no parent) becomes its execution's job."""
        ...

    async def end_job(self, ns: int, job: JobIn) -> None:
        """Starts the job if it is not, then sets its end (job.time, or now), call, cached and status."""
        ...

    async def get_job(self, ns: int, job_id: str) -> JobRow | None: ...


class HandleRepository(Protocol):
    async def advance_handle(
        self,
        ns: int,
        ancestors: Sequence[HandleIn],
        parents: Sequence[HandleIn],
        child: HandleIn,
        values: Sequence[StoredValue],
    ) -> None: ...

    async def rollback_handle(self, ns: int, handle_hash: str, fullname: str) -> int:
        """Invalidates the valid handles of fullname downstream of handle_hash; returns how many."""
        ...

    async def is_valid_handle(self, ns: int, handle_hash: str) -> bool: ...


class RecordSyncRepository(Protocol):
    """redun's sync records, read from and written to the rows of every other repository."""

    async def get_records(self, ns: int, ids: Sequence[str]) -> list[SyncRecord]: ...

    async def put_records(self, ns: int, batch: RecordBatch) -> int:
        """Inserts the records absent, one statement per kind; returns how many were."""
        ...

    async def child_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        """The ids owned by the given records (one breadth-first layer)."""
        ...

    async def known_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class CacheRepositories:
    values: ValueRepository
    call_graph: CallGraphRepository
    checks: CacheCheckRepository
    evaluations: EvaluationRepository
    jobs: JobRepository
    handles: HandleRepository
    records: RecordSyncRepository
