"""redun's JSON form of a sync record, checked field by field before anything reaches storage."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain import validation
from artimeta_server.domain.cache.limits import MAX_ITEMS
from artimeta_server.domain.cache.models import StoredValue, ValueIn
from artimeta_server.domain.cache.sync_models import (
    RECORD_TYPES,
    ArgumentRecord,
    CallNodeRecord,
    ExecutionRecord,
    IncomingRecord,
    JobRecord,
    SyncRecord,
    TagRecord,
)
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.reasons import Reason

_TEXT, _OPT_TEXT, _TEXTS, _TIME, _BOOL, _ANY = "text", "text|null", "[text]", "time|null", "bool", "any"
# What each record type's fields must be; fields not listed are ignored.
_RECORD_FIELDS: dict[str, dict[str, str]] = {
    "Execution": {"id": _TEXT, "args": _ANY, "job_id": _OPT_TEXT, "updated_time": _TIME},
    "Job": {
        "id": _TEXT,
        "task_hash": _TEXT,
        "execution_id": _TEXT,
        "parent_id": _OPT_TEXT,
        "call_hash": _OPT_TEXT,
        "cached": _BOOL,
        "status": _OPT_TEXT,
        "start_time": _TIME,
        "end_time": _TIME,
    },
    "CallNode": {
        "call_hash": _TEXT,
        "task_name": _TEXT,
        "task_hash": _TEXT,
        "args_hash": _TEXT,
        "value_hash": _TEXT,
        "children": _TEXTS,
        "subtree_tasks": _TEXTS,
        "timestamp": _TIME,
    },
    "Value": {"value_hash": _TEXT, "type": _TEXT, "format": _OPT_TEXT, "value": _TEXT},
    "Tag": {
        "tag_hash": _TEXT,
        "entity_type": _TEXT,
        "entity_id": _TEXT,
        "key": _TEXT,
        "value": _ANY,
        "parents": _TEXTS,
        "timestamp": _TIME,
    },
}
_ARGUMENT_FIELDS = {"arg_hash": _TEXT, "value_hash": _TEXT, "arg_key": _OPT_TEXT, "upstream": _TEXTS}
_REQUIRED = {
    "Execution": ("id",),
    "Job": ("id", "task_hash", "execution_id"),
    "CallNode": ("call_hash", "task_name", "task_hash", "args_hash", "value_hash"),
    "Value": ("value_hash", "type", "value"),
    "Tag": ("tag_hash", "entity_type", "entity_id", "key"),
}
_ID_FIELD = {"Execution": "id", "Job": "id", "CallNode": "call_hash", "Value": "value_hash", "Tag": "tag_hash"}


def _field_ok(value: Any, kind: str) -> bool:
    if kind == _TEXT:
        return isinstance(value, str) and len(value) <= ch.MAX_TEXT
    if kind == _OPT_TEXT:
        return value is None or _field_ok(value, _TEXT)
    if kind == _TEXTS:
        return isinstance(value, list) and len(value) <= MAX_ITEMS and all(_field_ok(v, _TEXT) for v in value)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _TIME:
        if value is None:
            return True
        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return False
        return True
    return True


def _check_fields(rec: dict[str, Any], fields: dict[str, str], where: str) -> None:
    for name, kind in fields.items():
        if name in rec and not _field_ok(rec[name], kind):
            raise ValueError(f"{where}{name} must be {kind}")


def _check_argument(a: Any) -> None:
    if not isinstance(a, dict):
        raise ValueError("arguments must be objects")
    _check_fields(a, _ARGUMENT_FIELDS, "arguments.")
    if "arg_hash" not in a or "value_hash" not in a:
        raise ValueError("arguments need arg_hash and value_hash")
    position = a.get("arg_position")
    if position is not None and (type(position) is not int or not -(2**31) <= position < 2**31):
        raise ValueError("arguments.arg_position must be a 32-bit integer or null")


def _check_record(rec: dict[str, Any], record_id: str) -> None:
    kind = rec["_type"]
    _check_fields(rec, _RECORD_FIELDS[kind], "")
    for name in _REQUIRED[kind]:
        if name not in rec:
            raise ValueError(f"{name} is missing")
    if kind == "CallNode":
        arguments = rec.get("arguments", [])
        if not isinstance(arguments, list) or len(arguments) > MAX_ITEMS:
            raise ValueError("arguments must be a list")
        for a in arguments:
            _check_argument(a)
    key = _ID_FIELD[kind]
    if rec[key] != record_id:
        raise ValueError(f"id {record_id!r} differs from the record's {key}")
    if kind in ("CallNode", "Value", "Tag"):
        ch.check_hash(record_id, field=key)
    else:
        ch.check_text(record_id, field=key)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _build(rec: dict[str, Any]) -> IncomingRecord:
    kind = rec["_type"]
    if kind == "Execution":
        return ExecutionRecord(
            rec["id"], json.dumps(rec.get("args", [])), rec.get("job_id"), _time(rec.get("updated_time"))
        )
    if kind == "Job":
        return JobRecord(
            id=rec["id"],
            task_hash=rec["task_hash"],
            execution_id=rec["execution_id"],
            parent_id=rec.get("parent_id"),
            call_hash=rec.get("call_hash"),
            cached=bool(rec.get("cached", False)),
            status=rec.get("status"),
            start_time=_time(rec.get("start_time")),
            end_time=_time(rec.get("end_time")),
        )
    if kind == "CallNode":
        return CallNodeRecord(
            call_hash=rec["call_hash"],
            task_name=rec["task_name"],
            task_hash=rec["task_hash"],
            args_hash=rec["args_hash"],
            value_hash=rec["value_hash"],
            timestamp=_time(rec.get("timestamp")),
            children=tuple(rec.get("children", [])),
            subtree_tasks=tuple(sorted(set(rec.get("subtree_tasks", [])))),
            arguments=tuple(
                ArgumentRecord(
                    a["arg_hash"],
                    a["value_hash"],
                    a.get("arg_position"),
                    a.get("arg_key"),
                    tuple(dict.fromkeys(a.get("upstream", []))),
                )
                for a in rec.get("arguments", [])
            ),
        )
    if kind == "Value":
        return ValueIn(rec["value_hash"], rec["type"], rec.get("format") or "", base64.b64decode(rec["value"]))
    return TagRecord(
        tag_hash=rec["tag_hash"],
        entity_type=rec["entity_type"],
        entity_id=rec["entity_id"],
        key=rec["key"],
        value_json=json.dumps(rec.get("value"), separators=(",", ":"), sort_keys=True),
        parents=tuple(rec.get("parents", [])),
        timestamp=_time(rec.get("timestamp")),
    )


def parse_record(index: int, record_id: str, text: str) -> IncomingRecord:
    """records[index] of a PutRecords, or INVALID_RECORD naming the index."""
    where = {"index": str(index)}
    try:
        rec = validation.json_value(text, field=f"records[{index}].json")
    except InvalidArgument as exc:
        raise InvalidArgument(
            f"records[{index}]: {exc.message}", reason=Reason.INVALID_RECORD, metadata=where
        ) from None
    if not isinstance(rec, dict) or rec.get("_type") not in RECORD_TYPES:
        raise InvalidArgument(
            f"records[{index}] is not a JSON object with a known _type", reason=Reason.INVALID_RECORD, metadata=where
        )
    try:
        _check_record(rec, record_id)
        return _build(rec)
    except (KeyError, TypeError, ValueError, binascii.Error, InvalidArgument) as exc:
        raise InvalidArgument(
            f"records[{index}] is malformed: {exc}", reason=Reason.INVALID_RECORD, metadata=where
        ) from None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _as_json(record: SyncRecord, data: bytes | None) -> dict[str, Any]:
    match record:
        case ExecutionRecord():
            return {
                "_type": "Execution",
                "id": record.id,
                "args": json.loads(record.args_json),
                "job_id": record.job_id,
                "updated_time": _iso(record.updated_time),
            }
        case JobRecord():
            return {
                "_type": "Job",
                "id": record.id,
                "task_hash": record.task_hash,
                "execution_id": record.execution_id,
                "parent_id": record.parent_id,
                "call_hash": record.call_hash,
                "cached": record.cached,
                "status": record.status,
                "start_time": _iso(record.start_time),
                "end_time": _iso(record.end_time),
                "children": list(record.children),
            }
        case CallNodeRecord():
            return {
                "_type": "CallNode",
                "call_hash": record.call_hash,
                "task_name": record.task_name,
                "task_hash": record.task_hash,
                "args_hash": record.args_hash,
                "value_hash": record.value_hash,
                "timestamp": _iso(record.timestamp),
                "children": list(record.children),
                "subtree_tasks": list(record.subtree_tasks),
                "arguments": [
                    {
                        "arg_hash": a.arg_hash,
                        "value_hash": a.value_hash,
                        "arg_position": a.arg_position,
                        "arg_key": a.arg_key,
                        "upstream": list(a.upstream),
                    }
                    for a in record.arguments
                ],
            }
        case StoredValue():
            assert data is not None
            return {
                "_type": "Value",
                "value_hash": record.value_hash,
                "type": record.type_name,
                "format": record.format,
                "value": base64.b64encode(data).decode(),
            }
        case TagRecord():
            return {
                "_type": "Tag",
                "tag_hash": record.tag_hash,
                "entity_type": record.entity_type,
                "entity_id": record.entity_id,
                "key": record.key,
                "value": json.loads(record.value_json),
                "parents": list(record.parents),
                "timestamp": _iso(record.timestamp),
            }


def dump_record(record: SyncRecord, data: bytes | None = None) -> str:
    """redun's JSON of the record; a value's record takes its bytes as data."""
    return json.dumps(_as_json(record, data), sort_keys=True)
