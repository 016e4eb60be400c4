"""CacheService."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import grpc

from artimeta.v1 import cache_pb2 as pb
from artimeta.v1 import cache_pb2_grpc
from artimeta_server.domain.cache.models import (
    CallArgument,
    CheckDepth,
    CheckResult,
    HandleIn,
    HitKind,
    JobIn,
    JobRow,
    MissReason,
    ResultKind,
    Scope,
    ValueIn,
    ValueOut,
)
from artimeta_server.domain.cache.service import Cache
from artimeta_server.domain.listings.models import ExecutionSummary
from artimeta_server.domain.listings.service import Listings
from artimeta_server.domain.lru import BoundedCache
from artimeta_server.rpc import access, convert

Context = grpc.aio.ServicerContext[Any, Any]

access.declare(
    "artimeta.v1.CacheService",
    read={
        "GetValues",
        "GetCallNode",
        "CheckCache",
        "ExplainCacheMiss",
        "GetJob",
        "IsValidHandle",
        "GetRecords",
        "IterRecordIds",
    },
    write={
        "RecordValues",
        "RecordCallNode",
        "SetEvalCache",
        "RecordExecution",
        "RecordUpdatedTime",
        "RecordJobStart",
        "RecordJobEnd",
        "AdvanceHandle",
        "RollbackHandle",
        "PutRecords",
    },
)

access.declare("artimeta.v1.CacheService", read={"ListExecutions"})

_SCOPES: dict[int, Scope] = {pb.CACHE_SCOPE_NONE: "NONE", pb.CACHE_SCOPE_CSE: "CSE", pb.CACHE_SCOPE_BACKEND: "BACKEND"}
_CHECKS: dict[int, CheckDepth] = {pb.CACHE_CHECK_FULL: "FULL", pb.CACHE_CHECK_SHALLOW: "SHALLOW"}
_HIT_KINDS: dict[int, HitKind] = {
    pb.CACHE_RESULT_KIND_CSE: "CSE",
    pb.CACHE_RESULT_KIND_SINGLE: "SINGLE",
    pb.CACHE_RESULT_KIND_ULTIMATE: "ULTIMATE",
}
_RESULT_PB: dict[ResultKind, pb.CacheResultKind.ValueType] = {
    "CSE": pb.CACHE_RESULT_KIND_CSE,
    "SINGLE": pb.CACHE_RESULT_KIND_SINGLE,
    "ULTIMATE": pb.CACHE_RESULT_KIND_ULTIMATE,
    "MISS": pb.CACHE_RESULT_KIND_MISS,
}
_REASONS: dict[MissReason, pb.CacheMissReason.ValueType] = {
    "new_task": pb.CACHE_MISS_REASON_NEW_TASK,
    "new_args": pb.CACHE_MISS_REASON_NEW_ARGS,
    "new_call": pb.CACHE_MISS_REASON_NEW_CALL,
}


def _value_in(v: pb.CacheValue) -> ValueIn:
    return ValueIn(v.value_hash, v.type_name, v.format, v.data)


def _value_out(v: ValueOut) -> pb.CacheValue:
    return pb.CacheValue(value_hash=v.value_hash, type_name=v.type_name, format=v.format, data=v.data)


def _job_in(j: pb.Job, time: datetime | None) -> JobIn:
    return JobIn(
        id=j.id,
        task_hash=j.task_hash,
        execution_id=j.execution_id,
        parent_id=j.parent_id or None,
        call_hash=j.call_hash or None,
        cached=j.cached,
        status=j.status or None,
        time=time,
    )


def _job_out(j: JobRow) -> pb.Job:
    return pb.Job(
        id=j.id,
        task_hash=j.task_hash,
        execution_id=j.execution_id,
        parent_id=j.parent_id or "",
        call_hash=j.call_hash or "",
        cached=j.cached,
        status=j.status or "",
        start_time=convert.timestamp(j.start_time),
        end_time=convert.timestamp(j.end_time),
    )


def _handle(h: pb.Handle) -> HandleIn:
    return HandleIn(h.hash, h.fullname, h.key, h.value_hash)


def _execution_out(e: ExecutionSummary) -> pb.ExecutionSummary:
    return pb.ExecutionSummary(
        id=e.id,
        args=e.args,
        create_time=convert.timestamp(e.create_time),
        updated_time=convert.timestamp(e.updated_time),
        root_job_id=e.root_job_id or "",
        root_task_hash=e.root_task_hash or "",
        root_task_name=e.root_task_name or "",
        start_time=convert.timestamp(e.start_time),
        end_time=convert.timestamp(e.end_time),
        status=e.status or "",
        job_count=e.job_count,
        cached_job_count=e.cached_job_count,
    )


class CacheServicer(cache_pb2_grpc.CacheServiceServicer):
    def __init__(self, cache: Cache, listings: Listings) -> None:
        self._cache = cache
        self._listings = listings
        # The reply built from each remembered hit, reused while that same object is served.
        self._replies: BoundedCache[tuple[CheckResult, pb.CheckCacheResponse]] = BoundedCache(max_bytes=8 * 1024 * 1024)

    async def RecordValues(self, request: pb.RecordValuesRequest, context: Context) -> pb.RecordValuesResponse:
        created = await self._cache.add_values(request.namespace, [_value_in(v) for v in request.values])
        return pb.RecordValuesResponse(created=created)

    async def GetValues(self, request: pb.GetValuesRequest, context: Context) -> pb.GetValuesResponse:
        values = await self._cache.get_values(request.namespace, list(request.value_hashes))
        return pb.GetValuesResponse(values=[_value_out(v) for v in values])

    async def RecordCallNode(self, request: pb.RecordCallNodeRequest, context: Context) -> pb.RecordCallNodeResponse:
        call_hash = await self._cache.add_call_node(
            request.namespace,
            task_name=request.task_name,
            task_hash=request.task_hash,
            args_hash=request.args_hash,
            result_hash=request.result_hash,
            children=list(request.child_call_hashes),
            arguments=[
                CallArgument(
                    a.position if a.HasField("position") else None,
                    a.key if a.HasField("key") else None,
                    a.value_hash,
                    list(a.upstream_call_hashes),
                )
                for a in request.arguments
            ],
            subtree_task_hashes=list(request.subtree_task_hashes),
            values=[_value_in(v) for v in request.values],
        )
        return pb.RecordCallNodeResponse(call_hash=call_hash)

    async def GetCallNode(self, request: pb.GetCallNodeRequest, context: Context) -> pb.GetCallNodeResponse:
        n = await self._cache.get_call_node(request.namespace, request.call_hash)
        return pb.GetCallNodeResponse(
            call_node=pb.CallNode(
                call_hash=n.call_hash,
                task_name=n.task_name,
                task_hash=n.task_hash,
                args_hash=n.args_hash,
                value_hash=n.value_hash,
                create_time=convert.timestamp(n.create_time),
                child_call_hashes=n.children,
            ),
            subtree_task_hashes=n.subtree_task_hashes,
        )

    async def CheckCache(self, request: pb.CheckCacheRequest, context: Context) -> pb.CheckCacheResponse:
        result = await self._cache.check_cache(
            request.namespace,
            task_hash=request.task_hash,
            args_hash=request.args_hash,
            eval_hash=request.eval_hash,
            execution_id=request.execution_id,
            scheduler_task_hashes=list(request.scheduler_task_hashes),
            scope=_SCOPES.get(request.scope, "BACKEND"),
            check=_CHECKS.get(request.check, "FULL"),
            context_hash=request.context_hash if request.HasField("context_hash") else None,
            allowed=[_HIT_KINDS[k] for k in request.allowed_results if k in _HIT_KINDS],
            strong=convert.strong(request.consistency),
        )
        if result.kind == "MISS":
            return pb.CheckCacheResponse(result=_RESULT_PB["MISS"])
        key = (request.namespace, request.task_hash, request.eval_hash, request.execution_id)
        hit = self._replies.get(key)
        if hit is not None and hit[0] is result:
            return hit[1]
        reply = pb.CheckCacheResponse(
            result=_RESULT_PB[result.kind],
            call_hash=result.call_hash or "",
            value=_value_out(result.value) if result.value is not None else None,
            subtree_task_hashes=result.subtree_task_hashes,
        )
        self._replies.put(key, (result, reply), 2 * reply.ByteSize())
        return reply

    async def SetEvalCache(self, request: pb.SetEvalCacheRequest, context: Context) -> pb.SetEvalCacheResponse:
        await self._cache.set_eval_cache(
            request.namespace,
            eval_hash=request.eval_hash,
            task_hash=request.task_hash,
            args_hash=request.args_hash,
            value_hash=request.value_hash,
            value=_value_in(request.value) if request.HasField("value") else None,
        )
        return pb.SetEvalCacheResponse()

    async def ExplainCacheMiss(
        self, request: pb.ExplainCacheMissRequest, context: Context
    ) -> pb.ExplainCacheMissResponse:
        e = await self._cache.explain_cache_miss(
            request.namespace, request.task_name, request.task_hash, request.args_hash
        )
        return pb.ExplainCacheMissResponse(
            reason=_REASONS[e.reason],
            call_hash=e.call_hash,
            call_task_hash=e.call_task_hash,
            call_args_hash=e.call_args_hash,
        )

    async def RecordExecution(self, request: pb.RecordExecutionRequest, context: Context) -> pb.RecordExecutionResponse:
        await self._cache.add_execution(request.namespace, request.id, list(request.args))
        return pb.RecordExecutionResponse()

    async def RecordUpdatedTime(
        self, request: pb.RecordUpdatedTimeRequest, context: Context
    ) -> pb.RecordUpdatedTimeResponse:
        await self._cache.touch_execution(request.namespace, request.execution_id)
        return pb.RecordUpdatedTimeResponse()

    async def RecordJobStart(self, request: pb.RecordJobStartRequest, context: Context) -> pb.RecordJobStartResponse:
        start = request.job.start_time.ToDatetime(convert.UTC) if request.job.HasField("start_time") else None
        await self._cache.start_job(request.namespace, _job_in(request.job, start))
        return pb.RecordJobStartResponse()

    async def RecordJobEnd(self, request: pb.RecordJobEndRequest, context: Context) -> pb.RecordJobEndResponse:
        end = request.job.end_time.ToDatetime(convert.UTC) if request.job.HasField("end_time") else None
        await self._cache.end_job(request.namespace, _job_in(request.job, end))
        return pb.RecordJobEndResponse()

    async def GetJob(self, request: pb.GetJobRequest, context: Context) -> pb.GetJobResponse:
        return pb.GetJobResponse(job=_job_out(await self._cache.get_job(request.namespace, request.id)))

    async def AdvanceHandle(self, request: pb.AdvanceHandleRequest, context: Context) -> pb.AdvanceHandleResponse:
        await self._cache.advance_handle(
            request.namespace,
            [_handle(h) for h in request.ancestors],
            [_handle(h) for h in request.parents],
            _handle(request.child),
            [_value_in(v) for v in request.values],
        )
        return pb.AdvanceHandleResponse()

    async def RollbackHandle(self, request: pb.RollbackHandleRequest, context: Context) -> pb.RollbackHandleResponse:
        n = await self._cache.rollback_handle(request.namespace, request.hash, request.fullname)
        return pb.RollbackHandleResponse(invalidated=n)

    async def IsValidHandle(self, request: pb.IsValidHandleRequest, context: Context) -> pb.IsValidHandleResponse:
        return pb.IsValidHandleResponse(valid=await self._cache.is_valid_handle(request.namespace, request.hash))

    async def GetRecords(self, request: pb.GetRecordsRequest, context: Context) -> pb.GetRecordsResponse:
        records = await self._cache.records.get_records(request.namespace, list(request.ids))
        return pb.GetRecordsResponse(records=[pb.CacheRecord(id=i, json=j) for i, j in records])

    async def PutRecords(self, request: pb.PutRecordsRequest, context: Context) -> pb.PutRecordsResponse:
        n = await self._cache.records.put_records(request.namespace, [(r.id, r.json) for r in request.records])
        return pb.PutRecordsResponse(created=n)

    async def IterRecordIds(
        self, request: pb.IterRecordIdsRequest, context: Context
    ) -> AsyncIterator[pb.IterRecordIdsResponse]:
        async for batch in self._cache.records.iter_record_ids(request.namespace, list(request.root_ids)):
            for i in range(0, len(batch), 1000):
                yield pb.IterRecordIdsResponse(record_ids=batch[i : i + 1000])

    async def ListExecutions(self, request: pb.ListExecutionsRequest, context: Context) -> pb.ListExecutionsResponse:
        page = await self._listings.executions(request.namespace, request.page_size, request.page_token)
        return pb.ListExecutionsResponse(
            executions=[_execution_out(e) for e in page.items], next_page_token=page.next_page_token
        )
