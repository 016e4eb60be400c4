"""redun's handles, executions and jobs on CacheService, mixed into the redun backend."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Set

from artimeta import errors
from artimeta.adapters._redun_codec import timestamp
from artimeta.adapters._redun_parts import BackendParts
from artimeta.v1 import cache_pb2 as cpb


class HandlesAndJobs(BackendParts):
    _held_starts: Dict[str, cpb.RecordJobStartRequest]
    _open_jobs: Set[str]

    # Handles

    def _handle(self, handle: Any, values: List[cpb.CacheValue]) -> cpb.Handle:
        value_hash, new = self._values(handle)
        values += new
        h = handle.__handle__
        return cpb.Handle(hash=h.hash, fullname=h.fullname, key=h.key, value_hash=value_hash)

    def advance_handle(self, handles: List[Any], child_handle: Any) -> None:
        values: List[cpb.CacheValue] = []
        # Ancestors that skipped recording (e.g. chained forks) are recorded first.
        ancestors = []
        queue = [p.__handle__.fork_parent for p in handles if p.__handle__.fork_parent and not p.__handle__.is_recorded]
        while queue:
            handle = queue.pop()
            ancestors.append(self._handle(handle, values))
            handle.__handle__.is_recorded = True
            if handle.__handle__.fork_parent:
                queue.append(handle.__handle__.fork_parent)
        child = self._handle(child_handle, values)
        parents = [self._handle(p, values) for p in handles]
        self._reading().cache.advance_handle(
            ancestors=ancestors,
            parents=parents,
            child=child,
            values=list({v.value_hash: v for v in values}.values()),
        )
        self._remember(values)
        child_handle.__handle__.is_recorded = True
        for p in handles:
            p.__handle__.is_recorded = True

    def rollback_handle(self, handle: Any) -> None:
        h = handle.__handle__
        self._reading().cache.rollback_handle(hash=h.hash, fullname=h.fullname)

    def is_valid_handle(self, handle: Any) -> bool:
        return bool(self._reading().cache.is_valid_handle(hash=handle.__handle__.hash).valid)

    # Executions and jobs (written behind when the backend writes behind)

    def record_execution(self, exec_id: str, args: List[str]) -> None:
        self._write("RecordExecution", cpb.RecordExecutionRequest(namespace=self.namespace, id=exec_id, args=args))

    def record_updated_time(self, execution_id: str) -> None:
        request = cpb.RecordUpdatedTimeRequest(namespace=self.namespace, execution_id=execution_id)
        self._write("RecordUpdatedTime", request, best_effort=True)

    def _job(self, job: Any) -> cpb.Job:
        return cpb.Job(
            id=job.id,
            task_hash=job.task.hash,
            execution_id=job.execution.id,
            parent_id=job.parent_job.id if job.parent_job else "",
        )

    def record_job_start(self, job: Any, now: Optional[datetime] = None) -> Any:
        self.record_value(job.task)
        msg = self._job(job)
        held = getattr(job, "was_cached", False) and job.id not in self._held_starts
        if now is not None or held:
            # A held start is sent late, if at all: it carries the time it happened.
            msg.start_time.CopyFrom(timestamp(now or datetime.now(timezone.utc)))  # noqa: UP017 - Python 3.9
        request = cpb.RecordJobStartRequest(namespace=self.namespace, job=msg)
        self._open_jobs.add(job.id)
        if held:
            # A cache hit ends as soon as the scheduler gets to it: its end records it (start =
            # end), unless it has child jobs (its start then tells when they began) or something
            # reads jobs first.
            self._held_starts[job.id] = request
            return None
        self._write("RecordJobStart", request)
        return None

    def record_job_end(self, job: Any, now: Optional[datetime] = None, status: Optional[str] = None) -> None:
        self.record_value(job.task)
        held = self._held_starts.pop(job.id, None)
        if held is not None and getattr(job, "child_jobs", None):
            self._write("RecordJobStart", held)
        self._open_jobs.discard(job.id)
        msg = self._job(job)
        msg.call_hash = job.call_hash or ""
        msg.cached = bool(job.was_cached)
        msg.status = status or ""
        if now is not None:
            msg.end_time.CopyFrom(timestamp(now))
        self._write("RecordJobEnd", cpb.RecordJobEndRequest(namespace=self.namespace, job=msg))
        if not job.parent_job:
            # The execution is over: everything it wrote is durable before the scheduler returns.
            self.flush()

    def get_job(self, job_id: str) -> Optional[dict]:  # type: ignore[type-arg]
        try:
            resp = self._reading().cache.get_job(id=job_id)
        except errors.NotFound:
            return None
        return {"job_id": resp.job.id, "parent_id": resp.job.parent_id or None, "execution_id": resp.job.execution_id}
