"""redun's sync records (redun.backends.db.serializers, version 1) <-> artimeta's records.

`redun push` / `pull` move records between repositories as redun's serializers shape them; the
backend speaks that shape so its records mix with a redun SQLite or Postgres repository's. What
artimeta does not keep is rebuilt here, in the client: a value's subvalues and its Task or File
row come from the value itself through redun's type registry (the server never unpickles)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Tuple

from redun.value import TypeRegistry

VERSION = 1
KEYS = {"Execution": "id", "Job": "id", "CallNode": "call_hash", "Value": "value_hash", "Tag": "tag_hash"}
UTC = timezone.utc  # noqa: UP017 - Python 3.9 has no datetime.UTC


def record_id(rec: Dict[str, Any]) -> str:
    return str(rec.get(KEYS.get(rec.get("_type") or "", "id"), ""))


def _redun_time(text: Optional[str]) -> Optional[str]:
    """artimeta's ISO time as redun's serializer writes it: str() of a UTC datetime (its
    DateTimeUTC columns read back aware)."""
    if not text:
        return None
    value = datetime.fromisoformat(text)
    value = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return str(value)


def _artimeta_time(text: Optional[str]) -> Optional[str]:
    """redun's time as ISO with its offset (a naive one, from an older redun database, is UTC)."""
    if not text:
        return None
    value = datetime.fromisoformat(text)  # reads str(datetime), which redun's serializer writes
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _special(registry: TypeRegistry, type_name: str, data: bytes) -> Tuple[List[str], Optional[Dict[str, Any]]]:
    """A value's subvalue hashes and its File/Task subtype, as redun's database records them."""
    from redun.file import File
    from redun.task import Task

    try:
        value = registry.deserialize(type_name, data)
        subvalues = sorted({registry.get_hash(sub) for sub in registry.get_value(value).iter_subvalues()})
    except Exception:  # noqa: BLE001 - a value this process cannot load keeps its bytes, not its extras
        return [], None
    if isinstance(value, File):
        return subvalues, {"_type": "File", "path": value.path}
    if isinstance(value, Task):
        return subvalues, {"_type": "Task", "name": value.name, "namespace": value.namespace, "source": value.source}
    return subvalues, None


def to_redun(rec: Dict[str, Any], registry: TypeRegistry) -> Dict[str, Any]:
    """One artimeta record in redun's shape."""
    kind = rec["_type"]
    if kind == "Execution":
        return {
            "_version": VERSION,
            "_type": "Execution",
            "id": rec["id"],
            # redun keeps the command-line arguments as one JSON text.
            "args": json.dumps(rec.get("args") or []),
            "job_id": rec.get("job_id"),
        }
    if kind == "Job":
        status = rec.get("status") or ""
        if status != "FAILED":
            status = "RUNNING" if not rec.get("end_time") else "CACHED" if rec.get("cached") else "DONE"
        return {
            "_version": VERSION,
            "_type": "Job",
            "id": rec["id"],
            "start_time": _redun_time(rec.get("start_time")),
            "end_time": _redun_time(rec.get("end_time")),
            "task_hash": rec["task_hash"],
            "cached": bool(rec.get("cached")),
            "status": status,
            "call_hash": rec.get("call_hash"),
            "parent_id": rec.get("parent_id"),
            "children": list(rec.get("children") or []),
            "execution_id": rec["execution_id"],
        }
    if kind == "CallNode":
        args = {}
        for a in rec.get("arguments") or []:
            key = a.get("arg_key") if a.get("arg_key") is not None else str(a.get("arg_position"))
            args[key] = {
                "arg_hash": a["arg_hash"],
                "value_hash": a["value_hash"],
                "upstream": sorted(a.get("upstream") or []),
            }
        return {
            "_version": VERSION,
            "_type": "CallNode",
            "call_hash": rec["call_hash"],
            "task_name": rec["task_name"],
            "task_hash": rec["task_hash"],
            "args_hash": rec["args_hash"],
            "value_hash": rec["value_hash"],
            "timestamp": _redun_time(rec.get("timestamp")),
            "args": args,
            "children": list(rec.get("children") or []),
        }
    if kind == "Value":
        data = base64.b64decode(rec["value"])
        subvalues, subtype = _special(registry, rec["type"], data)
        return {
            "_version": VERSION,
            "_type": "Value",
            "value_hash": rec["value_hash"],
            "type": rec["type"],
            "format": rec.get("format", ""),
            "data": rec["value"],
            "subvalues": subvalues,
            "subtype": subtype,
        }
    if kind == "Tag":
        return {
            "_version": VERSION,
            "_type": "Tag",
            "tag_hash": rec["tag_hash"],
            "entity_type": rec["entity_type"],
            "entity_id": rec["entity_id"],
            "key": rec["key"],
            "value": rec.get("value"),
            "parents": list(rec.get("parents") or []),
        }
    raise ValueError(f"unknown record type {kind!r}")


def from_redun(rec: Dict[str, Any]) -> Dict[str, Any]:
    """One record in redun's shape (or already in artimeta's) as artimeta takes it."""
    if "_version" not in rec:
        return rec  # artimeta's own shape, from an older backend
    if rec["_version"] != VERSION:
        raise ValueError(f"redun record version {rec['_version']!r} is not supported (only {VERSION})")
    kind = rec["_type"]
    if kind == "Execution":
        args = rec.get("args")
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except ValueError:
            parsed = [args]
        return {"_type": "Execution", "id": rec["id"], "args": parsed or [], "job_id": rec.get("job_id")}
    if kind == "Job":
        return {
            "_type": "Job",
            "id": rec["id"],
            "task_hash": rec["task_hash"],
            "execution_id": rec["execution_id"],
            "parent_id": rec.get("parent_id"),
            "call_hash": rec.get("call_hash"),
            "cached": bool(rec.get("cached")),
            "status": rec.get("status"),
            "start_time": _artimeta_time(rec.get("start_time")),
            "end_time": _artimeta_time(rec.get("end_time")),
        }
    if kind == "CallNode":
        arguments = []
        for key, a in (rec.get("args") or {}).items():
            positional = key.isdigit()
            arguments.append(
                {
                    "arg_hash": a["arg_hash"],
                    "value_hash": a["value_hash"],
                    "arg_position": int(key) if positional else None,
                    "arg_key": None if positional else key,
                    "upstream": list(a.get("upstream") or []),
                }
            )
        return {
            "_type": "CallNode",
            "call_hash": rec["call_hash"],
            "task_name": rec["task_name"],
            "task_hash": rec["task_hash"],
            "args_hash": rec["args_hash"],
            "value_hash": rec["value_hash"],
            "timestamp": _artimeta_time(rec.get("timestamp")),
            "children": list(rec.get("children") or []),
            "arguments": arguments,
        }
    if kind == "Value":
        return {
            "_type": "Value",
            "value_hash": rec["value_hash"],
            "type": rec["type"],
            "format": rec.get("format") or "",
            "value": rec["data"],
        }
    if kind == "Tag":
        return {
            "_type": "Tag",
            "tag_hash": rec["tag_hash"],
            "entity_type": rec["entity_type"],
            "entity_id": rec["entity_id"],
            "key": rec["key"],
            "value": rec.get("value"),
            "parents": list(rec.get("parents") or []),
        }
    raise ValueError(f"unknown record type {kind!r}")
