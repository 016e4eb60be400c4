"""Records of the call graph and caches (redun's backend) that the cache use cases pass around."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from artimeta_server.domain.digests import Digest

CONTEXT_TAG_KEY = "redun.context"

# A cache hit's kind, in check order: the same call earlier in this execution (common
# subexpression), the newest call whose whole subtree is current, the evaluation cache.
HitKind = Literal["CSE", "ULTIMATE", "SINGLE"]
ResultKind = Literal["MISS", "CSE", "ULTIMATE", "SINGLE"]
# Which caches a check may read: none, this execution's only, or the backend's too.
Scope = Literal["NONE", "CSE", "BACKEND"]
# A shallow check may take an ultimate hit; a full one checks the whole call tree itself.
CheckDepth = Literal["FULL", "SHALLOW"]
MissReason = Literal["new_task", "new_args", "new_call"]


@dataclass(frozen=True, slots=True)
class ValueIn:
    value_hash: str
    type_name: str
    format: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredValue:
    """A value as its row keeps it: inline bytes, or a digest in the blob store."""

    value_hash: str
    type_name: str
    format: str
    data: bytes | None
    blob: Digest | None
    size: int


@dataclass(frozen=True, slots=True)
class ValueOut:
    value_hash: str
    type_name: str
    format: str
    data: bytes


@dataclass(frozen=True, slots=True)
class CallArgument:
    position: int | None
    key: str | None
    value_hash: str
    upstream_call_hashes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CallNodeIn:
    call_hash: str
    task_name: str
    task_hash: str
    args_hash: str
    value_hash: str
    children: list[str]
    # (arg_hash, argument)
    arguments: list[tuple[str, CallArgument]]
    subtree_task_hashes: list[str]


@dataclass(frozen=True, slots=True)
class CallNodeRow:
    call_hash: str
    task_name: str
    task_hash: str
    args_hash: str
    value_hash: str
    create_time: datetime
    children: list[str]
    subtree_task_hashes: list[str]


@dataclass(frozen=True, slots=True)
class CacheCandidate:
    """A possible hit, in check order: its kind, call hash (CSE/ULTIMATE) and stored value, and
    for a call node its subtree task hashes when the query read them along."""

    kind: HitKind
    call_hash: str | None
    value: StoredValue | None
    subtree_task_hashes: list[str] | None = None


@dataclass(frozen=True, slots=True)
class CacheQuery:
    task_hash: str
    args_hash: str
    eval_hash: str
    execution_id: str
    scheduler_task_hashes: list[str]
    context_hash: str | None
    want_cse: bool
    want_ultimate: bool
    want_single: bool


@dataclass(frozen=True, slots=True)
class CheckResult:
    kind: ResultKind
    call_hash: str | None = None
    value: ValueOut | None = None
    subtree_task_hashes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CallRef:
    call_hash: str
    task_hash: str
    args_hash: str


@dataclass(frozen=True, slots=True)
class MissExplanation:
    reason: MissReason
    call_hash: str = ""
    call_task_hash: str = ""
    call_args_hash: str = ""


@dataclass(frozen=True, slots=True)
class JobIn:
    id: str
    task_hash: str
    execution_id: str
    parent_id: str | None
    call_hash: str | None = None
    cached: bool = False
    status: str | None = None
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobRow:
    id: str
    task_hash: str
    execution_id: str
    parent_id: str | None
    call_hash: str | None
    cached: bool
    status: str | None
    start_time: datetime
    end_time: datetime | None


@dataclass(frozen=True, slots=True)
class HandleIn:
    hash: str
    fullname: str
    key: str
    value_hash: str
