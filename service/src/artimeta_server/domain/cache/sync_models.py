"""redun's sync records (GetRecords / PutRecords): one frozen dataclass per record kind.

In the cache service "record" means only these: the rows of one provenance database as redun
moves them to another. A value's record is its stored row (models.StoredValue) on the way out and
its bytes (models.ValueIn) on the way in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from artimeta_server.domain.cache.models import StoredValue, ValueIn

RECORD_TYPES = ("Execution", "Job", "CallNode", "Value", "Tag")


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    id: str
    args_json: str
    job_id: str | None
    updated_time: datetime | None


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    task_hash: str
    execution_id: str
    parent_id: str | None
    call_hash: str | None
    cached: bool
    status: str | None
    start_time: datetime | None
    end_time: datetime | None
    # Read only: the jobs whose parent this job is, as redun lists them.
    children: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ArgumentRecord:
    arg_hash: str
    value_hash: str
    arg_position: int | None
    arg_key: str | None
    upstream: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallNodeRecord:
    call_hash: str
    task_name: str
    task_hash: str
    args_hash: str
    value_hash: str
    # A synced call keeps its time: the newest call wins an ultimate check.
    timestamp: datetime | None
    children: tuple[str, ...]
    subtree_tasks: tuple[str, ...]
    arguments: tuple[ArgumentRecord, ...]


@dataclass(frozen=True, slots=True)
class TagRecord:
    tag_hash: str
    entity_type: str
    entity_id: str
    key: str
    value_json: str  # canonical JSON (content_hash.canonical_json's form)
    parents: tuple[str, ...]
    timestamp: datetime | None


# What GetRecords reads, and what PutRecords parses before a value's bytes are stored.
SyncRecord = ExecutionRecord | JobRecord | CallNodeRecord | StoredValue | TagRecord
IncomingRecord = ExecutionRecord | JobRecord | CallNodeRecord | ValueIn | TagRecord


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """The records of one PutRecords that the namespace lacks, by kind."""

    executions: tuple[ExecutionRecord, ...] = ()
    jobs: tuple[JobRecord, ...] = ()
    call_nodes: tuple[CallNodeRecord, ...] = ()
    values: tuple[StoredValue, ...] = ()
    tags: tuple[TagRecord, ...] = ()


def record_id(record: SyncRecord | IncomingRecord) -> str:
    match record:
        case ExecutionRecord() | JobRecord():
            return record.id
        case CallNodeRecord():
            return record.call_hash
        case StoredValue() | ValueIn():
            return record.value_hash
        case TagRecord():
            return record.tag_hash
