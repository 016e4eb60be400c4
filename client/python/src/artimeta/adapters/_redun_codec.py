"""redun's enums and values as artimeta.v1 fields: tag entity types, cache scopes, checks and
results, miss reasons, timestamps, and the calls whose results flowed into an argument."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator, Optional

from redun.backends.base import TagEntity
from redun.expression import Expression, SchedulerExpression, TaskExpression
from redun.task import CacheCheckValid, CacheResult, CacheScope
from redun.utils import iter_nested_value

from artimeta.v1 import cache_pb2 as cpb
from artimeta.v1 import tags_pb2 as tpb

ENTITY = {
    TagEntity.Execution: tpb.TAG_ENTITY_TYPE_EXECUTION,
    TagEntity.Job: tpb.TAG_ENTITY_TYPE_JOB,
    TagEntity.CallNode: tpb.TAG_ENTITY_TYPE_CALL_NODE,
    TagEntity.Task: tpb.TAG_ENTITY_TYPE_TASK,
    TagEntity.Value: tpb.TAG_ENTITY_TYPE_VALUE,
    TagEntity.Null: tpb.TAG_ENTITY_TYPE_NULL,
}
SCOPE = {
    CacheScope.NONE: cpb.CACHE_SCOPE_NONE,
    CacheScope.CSE: cpb.CACHE_SCOPE_CSE,
    CacheScope.BACKEND: cpb.CACHE_SCOPE_BACKEND,
}
CHECK = {CacheCheckValid.FULL: cpb.CACHE_CHECK_FULL, CacheCheckValid.SHALLOW: cpb.CACHE_CHECK_SHALLOW}
RESULT = {
    CacheResult.CSE: cpb.CACHE_RESULT_KIND_CSE,
    CacheResult.SINGLE: cpb.CACHE_RESULT_KIND_SINGLE,
    CacheResult.ULTIMATE: cpb.CACHE_RESULT_KIND_ULTIMATE,
    CacheResult.MISS: cpb.CACHE_RESULT_KIND_MISS,
}
RESULT_BACK = {v: k for k, v in RESULT.items()}
REASON = {
    cpb.CACHE_MISS_REASON_NEW_TASK: "new_task",
    cpb.CACHE_MISS_REASON_NEW_ARGS: "new_args",
    cpb.CACHE_MISS_REASON_NEW_CALL: "new_call",
}


def timestamp(value: Optional[datetime]) -> Any:
    if value is None:
        return None
    from google.protobuf import timestamp_pb2

    ts = timestamp_pb2.Timestamp()
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)  # noqa: UP017 - Python 3.9 has no datetime.UTC
    ts.FromDatetime(value)
    return ts


def find_arg_upstreams(expr_arg: Any) -> Iterator[str]:
    """Calls whose results flowed into an argument (as redun's database backend finds them)."""
    for value in iter_nested_value(expr_arg):
        if isinstance(value, TaskExpression) and not isinstance(value, SchedulerExpression):
            if value.call_hash:
                yield value.call_hash
        elif isinstance(value, Expression):
            yield from find_arg_upstreams(value._upstreams)
