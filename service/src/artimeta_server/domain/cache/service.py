"""Cache use cases: redun's call graph, its cache decision done server-side in one round trip,
jobs, executions and handles. Record sync is sync.py's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain.cache.check_memo import CheckMemo, query_key
from artimeta_server.domain.cache.limits import check_count
from artimeta_server.domain.cache.models import (
    CacheQuery,
    CallArgument,
    CallNodeIn,
    CallNodeRow,
    CheckDepth,
    CheckResult,
    HandleIn,
    HitKind,
    JobIn,
    JobRow,
    MissExplanation,
    Scope,
    StoredValue,
    ValueIn,
    ValueOut,
)
from artimeta_server.domain.cache.ports import CacheRepositories, NamespaceResolver, ValueBlobs
from artimeta_server.domain.cache.sync import RecordSync
from artimeta_server.domain.cache.values import VALUE_BLOB_THRESHOLD, ValueStore
from artimeta_server.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.fresh import FreshCache
from artimeta_server.domain.reasons import Reason


class Cache:
    def __init__(
        self,
        repos: CacheRepositories,
        blobs: ValueBlobs,
        namespaces: NamespaceResolver,
        *,
        blob_threshold: int = VALUE_BLOB_THRESHOLD,
        max_value_bytes: int = 1 << 30,
        fresh: FreshCache[object] | None = None,
    ) -> None:
        self._values = ValueStore(repos.values, blobs, blob_threshold=blob_threshold, max_value_bytes=max_value_bytes)
        self._calls = repos.call_graph
        self._checks = repos.checks
        self._evaluations = repos.evaluations
        self._jobs = repos.jobs
        self._handles = repos.handles
        self._ns = namespaces
        # Hits remembered across calls; without a change feed, every check reads the database.
        self._memo = CheckMemo(fresh) if fresh is not None else None
        self.records = RecordSync(repos.records, self._values, namespaces, wrote=self._wrote)

    def _wrote(self, ns: int) -> None:
        # Storage announced the write to the other replicas in its transaction; this replica
        # forgets at once, so the writer's next check sees its write. Also after a failed write:
        # it may have committed before the failure reached us.
        if self._memo is not None:
            self._memo.wrote(ns)

    # Values

    async def add_values(self, namespace: str, values: Sequence[ValueIn]) -> int:
        check_count(len(values), "values")
        for i, v in enumerate(values):
            self._values.check(v, f"values[{i}]")
        ns = await self._ns.resolve(namespace)
        try:
            return await self._values.repo.insert_values(ns, await self._values.store(ns, values))
        finally:
            self._wrote(ns)

    async def get_values(self, namespace: str, hashes: Sequence[str]) -> list[ValueOut]:
        check_count(len(hashes), "value_hashes")
        ch.check_hashes(hashes, field="value_hashes")
        ns = await self._ns.resolve(namespace)
        rows = await self._values.repo.get_values(ns, list(dict.fromkeys(hashes)))
        out = []
        for h in hashes:
            v = await self._values.load(ns, rows.get(h))
            if v is not None:
                out.append(v)
        return out

    # Call graph and cache

    async def add_call_node(
        self,
        namespace: str,
        *,
        task_name: str,
        task_hash: str,
        args_hash: str,
        result_hash: str,
        children: Sequence[str],
        arguments: Sequence[CallArgument],
        subtree_task_hashes: Sequence[str],
        values: Sequence[ValueIn],
    ) -> str:
        ch.check_text(task_name, field="task_name")
        ch.check_hash(task_hash, field="task_hash")
        ch.check_hash(args_hash, field="args_hash")
        ch.check_hash(result_hash, field="result_hash")
        ch.check_hashes(children, field="child_call_hashes")
        ch.check_hashes(subtree_task_hashes, field="subtree_task_hashes")
        check_count(len(arguments) + len(values) + len(children), "arguments")
        for a in arguments:
            ch.check_hash(a.value_hash, field="arguments.value_hash")
            ch.check_hashes(a.upstream_call_hashes, field="arguments.upstream_call_hashes")
            if a.key is not None:
                ch.check_text(a.key, field="arguments.key", required=False)
        for i, v in enumerate(values):
            self._values.check(v, f"values[{i}]")
        call = ch.call_hash(task_hash, args_hash, result_hash, children)
        node = CallNodeIn(
            call_hash=call,
            task_name=task_name,
            task_hash=task_hash,
            args_hash=args_hash,
            value_hash=result_hash,
            children=list(children),
            arguments=[(ch.argument_hash(call, a.position, a.key, a.value_hash), a) for a in arguments],
            subtree_task_hashes=sorted(set(subtree_task_hashes)),
        )
        ns = await self._ns.resolve(namespace)
        try:
            await self._calls.insert_call_node(ns, node, await self._values.store(ns, values))
        finally:
            self._wrote(ns)
        return call

    async def get_call_node(self, namespace: str, call_hash: str) -> CallNodeRow:
        ch.check_hash(call_hash, field="call_hash")
        ns = await self._ns.resolve(namespace)
        row = await self._calls.get_call_node(ns, call_hash)
        if row is None:
            raise NotFound(
                f"call node {call_hash} not found", reason=Reason.CALL_NODE_NOT_FOUND, metadata={"call_hash": call_hash}
            )
        return row

    async def check_cache(
        self,
        namespace: str,
        *,
        task_hash: str,
        args_hash: str,
        eval_hash: str,
        execution_id: str,
        scheduler_task_hashes: Sequence[str],
        scope: Scope,
        check: CheckDepth,
        context_hash: str | None,
        allowed: Sequence[HitKind],
        strong: bool = False,
    ) -> CheckResult:
        ch.check_hash(task_hash, field="task_hash")
        ch.check_hash(args_hash, field="args_hash")
        ch.check_hash(eval_hash, field="eval_hash")
        ch.check_text(execution_id, field="execution_id", required=False)
        if context_hash is not None:
            ch.check_hash(context_hash, field="context_hash")
        # Checks share one batched statement (storage/batcher.py): every field is checked here,
        # before it can join other callers' batch.
        check_count(len(scheduler_task_hashes), "scheduler_task_hashes")
        ch.check_hashes(scheduler_task_hashes, field="scheduler_task_hashes")
        ns = await self._ns.resolve(namespace)
        if scope == "NONE":
            return CheckResult("MISS")
        kinds: set[HitKind] = set(allowed) or {"CSE", "SINGLE", "ULTIMATE"}
        backend = scope == "BACKEND"
        query = CacheQuery(
            task_hash=task_hash,
            args_hash=args_hash,
            eval_hash=eval_hash,
            execution_id=execution_id,
            scheduler_task_hashes=list(scheduler_task_hashes),
            context_hash=context_hash,
            want_cse="CSE" in kinds and bool(execution_id),
            want_ultimate=backend and check == "SHALLOW" and "ULTIMATE" in kinds,
            want_single=backend and "SINGLE" in kinds,
        )
        if not (query.want_cse or query.want_ultimate or query.want_single):
            return CheckResult("MISS")
        memo = self._memo if context_hash is None and not strong else None
        if memo is None:
            return (await self._decide(ns, query))[0]
        key = query_key(query)
        hit = memo.get(ns, key)
        if hit is not None:
            return hit
        ticket = memo.ticket()
        result, inline = await self._decide(ns, query)
        if inline:
            memo.put(ns, key, result, ticket)
        return result

    async def _decide(self, ns: int, query: CacheQuery) -> tuple[CheckResult, bool]:
        """The check's answer from the database, and whether its value is held inline (a hit
        whose bytes live in the blob store is not remembered)."""
        # One database round trip returns every candidate in check order; the first whose value
        # (and, for large values, whose bytes in the blob store) is readable wins.
        for cand in await self._checks.cache_candidates(ns, query):
            value = await self._values.load(ns, cand.value)
            if value is None:
                continue
            inline = cand.value is not None and cand.value.data is not None
            if cand.kind == "SINGLE" or cand.call_hash is None:
                return CheckResult(cand.kind, None, value), inline
            subtree = cand.subtree_task_hashes
            if subtree is None:
                node = await self._calls.get_call_node(ns, cand.call_hash)
                subtree = node.subtree_task_hashes if node is not None else []
            return CheckResult(cand.kind, cand.call_hash, value, subtree), inline
        return CheckResult("MISS"), False

    async def set_eval_cache(
        self,
        namespace: str,
        *,
        eval_hash: str,
        task_hash: str,
        args_hash: str,
        value_hash: str,
        value: ValueIn | None,
    ) -> None:
        ch.check_hash(eval_hash, field="eval_hash")
        ch.check_hash(task_hash, field="task_hash")
        ch.check_hash(args_hash, field="args_hash")
        ch.check_hash(value_hash, field="value_hash")
        if value is not None:
            self._values.check(value, "value")
            if value.value_hash != value_hash:
                raise InvalidArgument("value.value_hash differs from value_hash", reason=Reason.INVALID_HASH)
        ns = await self._ns.resolve(namespace)
        stored: StoredValue | None = None
        if value is not None:
            prepared = await self._values.store(ns, [value])
            stored = prepared[0] if prepared else None
        try:
            done = await self._evaluations.set_eval_cache(ns, eval_hash, task_hash, args_hash, value_hash, stored)
        finally:
            self._wrote(ns)
        if not done:
            raise FailedPrecondition(
                f"value {value_hash} is not recorded; send it with the call",
                reason=Reason.VALUE_NOT_RECORDED,
                metadata={"value_hash": value_hash},
            )

    async def explain_cache_miss(
        self, namespace: str, task_name: str, task_hash: str, args_hash: str
    ) -> MissExplanation:
        ch.check_text(task_name, field="task_name")
        ch.check_hash(task_hash, field="task_hash")
        ch.check_hash(args_hash, field="args_hash")
        ns = await self._ns.resolve(namespace)
        # The closest call recorded says what changed: the same task name on the same arguments
        # means the task's code changed; the same task version means its arguments did.
        same_args = await self._calls.newest_call_with_args(ns, task_name, args_hash)
        if same_args is not None:
            return MissExplanation("new_task", same_args.call_hash, same_args.task_hash, same_args.args_hash)
        same_task = await self._calls.newest_call_of_task(ns, task_hash)
        if same_task is not None:
            return MissExplanation("new_args", same_task.call_hash, same_task.task_hash, same_task.args_hash)
        return MissExplanation("new_call")

    # Executions and jobs

    async def add_execution(self, namespace: str, exec_id: str, args: Sequence[str]) -> None:
        ch.check_text(exec_id, field="id")
        ns = await self._ns.resolve(namespace)
        await self._jobs.add_execution(ns, exec_id, list(args))

    async def touch_execution(self, namespace: str, exec_id: str) -> None:
        ch.check_text(exec_id, field="execution_id")
        ns = await self._ns.resolve(namespace)
        if not await self._jobs.touch_execution(ns, exec_id):
            raise NotFound(f"execution {exec_id!r} not found", reason=Reason.EXECUTION_NOT_FOUND)

    def _check_job(self, job: JobIn) -> None:
        ch.check_text(job.id, field="job.id")
        ch.check_hash(job.task_hash, field="job.task_hash")
        ch.check_text(job.execution_id, field="job.execution_id")
        if job.call_hash:
            ch.check_hash(job.call_hash, field="job.call_hash")

    async def start_job(self, namespace: str, job: JobIn) -> None:
        # What a job's end says (its call, whether it was cached, its status) is not known at its
        # start: a start's own say of them is ignored, unchecked.
        job = replace(job, call_hash=None, cached=False, status=None)
        self._check_job(job)
        ns = await self._ns.resolve(namespace)
        try:
            await self._jobs.start_job(ns, job)
        finally:
            self._wrote(ns)

    async def end_job(self, namespace: str, job: JobIn) -> None:
        self._check_job(job)
        ns = await self._ns.resolve(namespace)
        try:
            await self._jobs.end_job(ns, job)
        finally:
            self._wrote(ns)

    async def get_job(self, namespace: str, job_id: str) -> JobRow:
        ch.check_text(job_id, field="id")
        ns = await self._ns.resolve(namespace)
        row = await self._jobs.get_job(ns, job_id)
        if row is None:
            raise NotFound(f"job {job_id!r} not found", reason=Reason.JOB_NOT_FOUND, metadata={"job_id": job_id})
        return row

    # Handles

    def _check_handle(self, h: HandleIn, field: str) -> None:
        ch.check_hash(h.hash, field=f"{field}.hash")
        ch.check_text(h.fullname, field=f"{field}.fullname")
        ch.check_hash(h.value_hash, field=f"{field}.value_hash")

    async def advance_handle(
        self,
        namespace: str,
        ancestors: Sequence[HandleIn],
        parents: Sequence[HandleIn],
        child: HandleIn,
        values: Sequence[ValueIn],
    ) -> None:
        for h in [*ancestors, *parents]:
            self._check_handle(h, "parents")
        self._check_handle(child, "child")
        for i, v in enumerate(values):
            self._values.check(v, f"values[{i}]")
        ns = await self._ns.resolve(namespace)
        try:
            await self._handles.advance_handle(ns, ancestors, parents, child, await self._values.store(ns, values))
        finally:
            self._wrote(ns)

    async def rollback_handle(self, namespace: str, handle_hash: str, fullname: str) -> int:
        ch.check_hash(handle_hash, field="hash")
        ch.check_text(fullname, field="fullname")
        ns = await self._ns.resolve(namespace)
        return await self._handles.rollback_handle(ns, handle_hash, fullname)

    async def is_valid_handle(self, namespace: str, handle_hash: str) -> bool:
        ch.check_hash(handle_hash, field="hash")
        ns = await self._ns.resolve(namespace)
        return await self._handles.is_valid_handle(ns, handle_hash)
