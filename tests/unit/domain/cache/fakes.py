"""In-memory ports for the cache use cases: dicts in place of Postgres and S3, with the same
insert-if-absent rules the real repositories keep."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from artimeta_server.domain.cache.models import (
    CacheCandidate,
    CacheQuery,
    CallArgument,
    CallNodeIn,
    CallNodeRow,
    CallRef,
    HandleIn,
    JobIn,
    JobRow,
    StoredValue,
    ValueIn,
)
from artimeta_server.domain.cache.ports import CacheRepositories
from artimeta_server.domain.cache.service import Cache
from artimeta_server.domain.cache.sync_models import (
    CallNodeRecord,
    ExecutionRecord,
    JobRecord,
    RecordBatch,
    SyncRecord,
    TagRecord,
    record_id,
)
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import NotFound
from artimeta_server.domain.reasons import Reason

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeNamespaces:
    def __init__(self, *names: str) -> None:
        self.ids = {name: i + 1 for i, name in enumerate(names)}

    async def resolve(self, name: str, *, strong: bool = False) -> int:
        if name not in self.ids:
            raise NotFound(f"namespace {name!r} not found", reason=Reason.NAMESPACE_NOT_FOUND)
        return self.ids[name]


class FakeBlobs:
    def __init__(self) -> None:
        self.objects: dict[tuple[int, str], bytes] = {}
        self.puts = 0

    async def put(self, namespace_id: int, data: bytes) -> Digest:
        self.puts += 1
        digest = Digest(hashlib.sha256(data).hexdigest(), len(data))
        self.objects[(namespace_id, digest.hash)] = data
        return digest

    async def get(self, namespace_id: int, digest: Digest) -> bytes:
        try:
            return self.objects[(namespace_id, digest.hash)]
        except KeyError:
            raise NotFound("blob not found", reason=Reason.BLOB_NOT_FOUND) from None


class FakeValues:
    def __init__(self) -> None:
        self.rows: dict[tuple[int, str], StoredValue] = {}

    async def insert_values(self, ns: int, values: Sequence[StoredValue]) -> int:
        created = 0
        for v in values:
            if (ns, v.value_hash) not in self.rows:
                self.rows[(ns, v.value_hash)] = v
                created += 1
        return created

    async def get_values(self, ns: int, hashes: Sequence[str]) -> dict[str, StoredValue]:
        return {h: self.rows[(ns, h)] for h in hashes if (ns, h) in self.rows}

    async def existing_values(self, ns: int, hashes: Sequence[str]) -> set[str]:
        return {h for h in hashes if (ns, h) in self.rows}


class FakeCallGraph:
    def __init__(self, values: FakeValues) -> None:
        self.values = values
        self.nodes: dict[tuple[int, str], CallNodeRow] = {}
        self.inserted: list[CallNodeIn] = []

    async def insert_call_node(self, ns: int, node: CallNodeIn, values: Sequence[StoredValue]) -> None:
        await self.values.insert_values(ns, values)
        self.inserted.append(node)
        self.nodes.setdefault(
            (ns, node.call_hash),
            CallNodeRow(
                node.call_hash,
                node.task_name,
                node.task_hash,
                node.args_hash,
                node.value_hash,
                NOW,
                [c for c in node.children if (ns, c) in self.nodes],
                node.subtree_task_hashes,
            ),
        )

    async def get_call_node(self, ns: int, call_hash: str) -> CallNodeRow | None:
        return self.nodes.get((ns, call_hash))

    def _newest(self, ns: int, keep: Callable[[CallNodeRow], bool]) -> CallRef | None:
        rows = [r for (n, _), r in self.nodes.items() if n == ns and keep(r)]
        newest = max(rows, key=lambda r: r.create_time, default=None)
        return None if newest is None else CallRef(newest.call_hash, newest.task_hash, newest.args_hash)

    async def newest_call_with_args(self, ns: int, task_name: str, args_hash: str) -> CallRef | None:
        return self._newest(ns, lambda r: r.task_name == task_name and r.args_hash == args_hash)

    async def newest_call_of_task(self, ns: int, task_hash: str) -> CallRef | None:
        return self._newest(ns, lambda r: r.task_hash == task_hash)


@dataclass
class FakeChecks:
    """Answers each query with the candidates set for its task hash (the SQL's choice is the
    API tests'; the rule of which candidate wins is the domain's)."""

    candidates: dict[str, list[CacheCandidate]] = field(default_factory=dict)
    queries: list[CacheQuery] = field(default_factory=list)

    async def cache_candidates(self, ns: int, query: CacheQuery) -> list[CacheCandidate]:
        self.queries.append(query)
        return list(self.candidates.get(query.task_hash, []))


class FakeEvaluations:
    def __init__(self, values: FakeValues) -> None:
        self.values = values
        self.rows: dict[tuple[int, str], str] = {}

    async def set_eval_cache(
        self, ns: int, eval_hash: str, task_hash: str, args_hash: str, value_hash: str, value: StoredValue | None
    ) -> bool:
        if value is not None:
            await self.values.insert_values(ns, [value])
        if (ns, value_hash) not in self.values.rows:
            return False
        self.rows[(ns, eval_hash)] = value_hash
        return True


class FakeJobs:
    def __init__(self) -> None:
        self.executions: dict[tuple[int, str], tuple[list[str], str | None, datetime]] = {}
        self.jobs: dict[tuple[int, str], JobRow] = {}
        self.started: list[JobIn] = []

    async def add_execution(self, ns: int, exec_id: str, args: list[str]) -> None:
        self.executions.setdefault((ns, exec_id), (args, None, NOW))

    async def touch_execution(self, ns: int, exec_id: str) -> bool:
        if (ns, exec_id) not in self.executions:
            return False
        args, job, _ = self.executions[(ns, exec_id)]
        self.executions[(ns, exec_id)] = (args, job, datetime.now(UTC))
        return True

    async def start_job(self, ns: int, job: JobIn) -> None:
        self.started.append(job)
        row = JobRow(job.id, job.task_hash, job.execution_id, job.parent_id, None, False, None, job.time or NOW, None)
        self.jobs.setdefault((ns, job.id), row)
        if not job.parent_id:
            args, root, t = self.executions.get((ns, job.execution_id), ([], None, NOW))
            self.executions[(ns, job.execution_id)] = (args, root or job.id, t)

    async def end_job(self, ns: int, job: JobIn) -> None:
        await self.start_job(ns, JobIn(job.id, job.task_hash, job.execution_id, job.parent_id, time=job.time))
        row = self.jobs[(ns, job.id)]
        self.jobs[(ns, job.id)] = replace(
            row, end_time=job.time or NOW, call_hash=job.call_hash, cached=job.cached, status=job.status
        )

    async def get_job(self, ns: int, job_id: str) -> JobRow | None:
        return self.jobs.get((ns, job_id))


class FakeHandles:
    def __init__(self, values: FakeValues) -> None:
        self.values = values
        self.handles: dict[tuple[int, str], tuple[HandleIn, bool]] = {}
        self.edges: set[tuple[int, str, str]] = set()

    async def advance_handle(
        self,
        ns: int,
        ancestors: Sequence[HandleIn],
        parents: Sequence[HandleIn],
        child: HandleIn,
        values: Sequence[StoredValue],
    ) -> None:
        await self.values.insert_values(ns, values)
        for h in [*ancestors, child, *parents]:
            self.handles.setdefault((ns, h.hash), (h, True))
        self.edges.update((ns, p.hash, child.hash) for p in parents)

    async def rollback_handle(self, ns: int, handle_hash: str, fullname: str) -> int:
        bad: list[str] = []
        frontier = [handle_hash]
        while frontier:
            parent = frontier.pop()
            for n, p, c in sorted(self.edges):
                h, valid = self.handles[(ns, p)]
                if n == ns and p == parent and h.fullname == fullname and valid and c not in bad:
                    bad.append(c)
                    frontier.append(c)
        invalidated = 0
        for c in bad:
            h, valid = self.handles[(ns, c)]
            if valid:
                self.handles[(ns, c)] = (h, False)
                invalidated += 1
        return invalidated

    async def is_valid_handle(self, ns: int, handle_hash: str) -> bool:
        found = self.handles.get((ns, handle_hash))
        return found is not None and found[1]


class FakeRecords:
    """Keeps each record as written, and answers the graph walk from the records' own links."""

    def __init__(self, values: FakeValues) -> None:
        self.values = values
        self.rows: dict[tuple[int, str], SyncRecord] = {}
        self.batches: list[RecordBatch] = []

    async def get_records(self, ns: int, ids: Sequence[str]) -> list[SyncRecord]:
        found: list[SyncRecord] = [self.rows[(ns, i)] for i in ids if (ns, i) in self.rows]
        found += list((await self.values.get_values(ns, ids)).values())
        return found

    async def put_records(self, ns: int, batch: RecordBatch) -> int:
        self.batches.append(batch)
        created = await self.values.insert_values(ns, batch.values)
        stamped: list[SyncRecord] = [
            *(replace(e, updated_time=e.updated_time or NOW) for e in batch.executions),
            *(replace(j, start_time=j.start_time or NOW) for j in batch.jobs),
            *(replace(c, timestamp=c.timestamp or NOW) for c in batch.call_nodes),
            *(replace(t, timestamp=t.timestamp or NOW) for t in batch.tags),
        ]
        for rec in stamped:
            if (ns, record_id(rec)) not in self.rows:
                self.rows[(ns, record_id(rec))] = rec
                created += 1
        return created

    async def known_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        return [i for i in ids if (ns, i) in self.rows or (ns, i) in self.values.rows]

    async def child_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        out: list[str] = []
        for i in ids:
            match self.rows.get((ns, i)):
                case ExecutionRecord(job_id=job) if job:
                    out.append(job)
                case JobRecord() as j:
                    out += [j.task_hash, *([j.call_hash] if j.call_hash else [])]
                case CallNodeRecord() as c:
                    out += [c.task_hash, c.value_hash, *c.children, *(a.value_hash for a in c.arguments)]
                case TagRecord() as t:
                    out += t.parents
        return await self.known_record_ids(ns, list(dict.fromkeys(out)))


@dataclass
class Fakes:
    namespaces: FakeNamespaces
    blobs: FakeBlobs
    values: FakeValues
    call_graph: FakeCallGraph
    checks: FakeChecks
    evaluations: FakeEvaluations
    jobs: FakeJobs
    handles: FakeHandles
    records: FakeRecords

    def cache(self, *, blob_threshold: int = 16, max_value_bytes: int = 1 << 20) -> Cache:
        repos = CacheRepositories(
            values=self.values,
            call_graph=self.call_graph,
            checks=self.checks,
            evaluations=self.evaluations,
            jobs=self.jobs,
            handles=self.handles,
            records=self.records,
        )
        return Cache(repos, self.blobs, self.namespaces, blob_threshold=blob_threshold, max_value_bytes=max_value_bytes)


def fakes() -> Fakes:
    values = FakeValues()
    return Fakes(
        namespaces=FakeNamespaces("ns", "other"),
        blobs=FakeBlobs(),
        values=values,
        call_graph=FakeCallGraph(values),
        checks=FakeChecks(),
        evaluations=FakeEvaluations(values),
        jobs=FakeJobs(),
        handles=FakeHandles(values),
        records=FakeRecords(values),
    )


def h(text: str) -> str:
    """A redun-style hash (40 hex digits) of a label."""
    return hashlib.sha1(text.encode()).hexdigest()


async def add_call(
    cache: Cache,
    *,
    task_name: str = "t",
    task: str = "task",
    args: str = "args",
    children: Sequence[str] = (),
    arguments: Sequence[CallArgument] = (),
    subtree: Sequence[str] = (),
    values: Sequence[ValueIn] = (),
) -> str:
    """Records a call node in namespace "ns" whose result is h("v"), its task and args named by
    labels given to h(); returns its call hash."""
    return await cache.add_call_node(
        "ns",
        task_name=task_name,
        task_hash=h(task),
        args_hash=h(args),
        result_hash=h("v"),
        children=children,
        arguments=arguments,
        subtree_task_hashes=subtree,
        values=values,
    )
