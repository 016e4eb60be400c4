"""Cache use cases: redun's call graph, its cache decision done server-side in one round trip,
jobs, executions, handles and the records that sync provenance between databases."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from artimeta_server.domain import content_hash as ch
from artimeta_server.domain import validation
from artimeta_server.domain.cache_models import (
    CacheQuery,
    CallArgument,
    CallNodeIn,
    CallNodeRow,
    CheckResult,
    HandleIn,
    JobIn,
    JobRow,
    MissExplanation,
    StoredValue,
    ValueIn,
    ValueOut,
)
from artimeta_server.domain.cache_ports import CacheRepository
from artimeta_server.domain.errors import DataLoss, FailedPrecondition, InvalidArgument, NotFound
from artimeta_server.domain.namespaces.service import Namespaces
from artimeta_server.domain.ports import BlobStore
from artimeta_server.domain.reasons import Reason

VALUE_BLOB_THRESHOLD = 1024
MAX_ITEMS = 10_000
RECORD_TYPES = ("Execution", "Job", "CallNode", "Value", "Tag")


def _too_many(n: int, field: str) -> None:
    if n > MAX_ITEMS:
        raise InvalidArgument(
            f"{n} items; at most {MAX_ITEMS}", reason=Reason.TOO_MANY_ITEMS, metadata={"field": field}
        )


class Cache:
    def __init__(
        self,
        repo: CacheRepository,
        blobs: BlobStore,
        namespaces: Namespaces,
        *,
        blob_threshold: int = VALUE_BLOB_THRESHOLD,
        max_value_bytes: int = 1 << 30,
    ) -> None:
        self._repo = repo
        self._blobs = blobs
        self._ns = namespaces
        self.blob_threshold = blob_threshold
        self.max_value_bytes = max_value_bytes

    # Values

    def _check_value(self, v: ValueIn, field: str) -> None:
        ch.check_hash(v.value_hash, field=f"{field}.value_hash")
        ch.check_text(v.type_name, field=f"{field}.type_name")
        ch.check_text(v.format, field=f"{field}.format", required=False)
        if len(v.data) > self.max_value_bytes:
            raise InvalidArgument(
                f"{field} is {len(v.data)} bytes; at most {self.max_value_bytes} are allowed",
                reason=Reason.VALUE_TOO_LARGE,
                metadata={"field": field, "limit": str(self.max_value_bytes)},
            )

    async def _store(self, ns: int, values: Sequence[ValueIn]) -> list[StoredValue]:
        """Large values go to the blob store before the rows that reference them are written."""
        unique = list({v.value_hash: v for v in values}.values())
        large = [v for v in unique if len(v.data) >= self.blob_threshold]
        present = await self._repo.existing_values(ns, [v.value_hash for v in large]) if large else set()
        out = []
        for v in unique:
            if len(v.data) >= self.blob_threshold:
                if v.value_hash in present:
                    continue
                digest = await self._blobs.put(ns, v.data)
                out.append(StoredValue(v.value_hash, v.type_name, v.format, None, digest, len(v.data)))
            else:
                out.append(StoredValue(v.value_hash, v.type_name, v.format, v.data, None, len(v.data)))
        return out

    async def record_values(self, namespace: str, values: Sequence[ValueIn]) -> int:
        _too_many(len(values), "values")
        for i, v in enumerate(values):
            self._check_value(v, f"values[{i}]")
        ns = await self._ns.resolve(namespace)
        return await self._repo.insert_values(ns, await self._store(ns, values))

    async def _load(self, ns: int, stored: StoredValue | None) -> ValueOut | None:
        """The value's bytes, or None when they are gone from (or corrupt in) the blob store."""
        if stored is None:
            return None
        if stored.data is not None:
            return ValueOut(stored.value_hash, stored.type_name, stored.format, stored.data)
        assert stored.blob is not None
        try:
            data = await self._blobs.get(ns, stored.blob)
        except (NotFound, DataLoss):
            return None
        return ValueOut(stored.value_hash, stored.type_name, stored.format, data)

    async def get_values(self, namespace: str, hashes: Sequence[str]) -> list[ValueOut]:
        _too_many(len(hashes), "value_hashes")
        ch.check_hashes(hashes, field="value_hashes")
        ns = await self._ns.resolve(namespace)
        rows = await self._repo.get_values(ns, list(dict.fromkeys(hashes)))
        out = []
        for h in hashes:
            v = await self._load(ns, rows.get(h))
            if v is not None:
                out.append(v)
        return out

    # Call graph and cache

    async def record_call_node(
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
        _too_many(len(arguments) + len(values) + len(children), "arguments")
        for a in arguments:
            ch.check_hash(a.value_hash, field="arguments.value_hash")
            ch.check_hashes(a.upstream_call_hashes, field="arguments.upstream_call_hashes")
            if a.key is not None:
                ch.check_text(a.key, field="arguments.key", required=False)
        for i, v in enumerate(values):
            self._check_value(v, f"values[{i}]")
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
        await self._repo.insert_call_node(ns, node, await self._store(ns, values))
        return call

    async def get_call_node(self, namespace: str, call_hash: str) -> CallNodeRow:
        ch.check_hash(call_hash, field="call_hash")
        ns = await self._ns.resolve(namespace)
        row = await self._repo.get_call_node(ns, call_hash)
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
        scope: str,
        check: str,
        context_hash: str | None,
        allowed: Sequence[str],
    ) -> CheckResult:
        ch.check_hash(task_hash, field="task_hash")
        ch.check_hash(args_hash, field="args_hash")
        ch.check_hash(eval_hash, field="eval_hash")
        ch.check_text(execution_id, field="execution_id", required=False)
        if context_hash is not None:
            ch.check_hash(context_hash, field="context_hash")
        # Checks share one batched statement (storage/batcher.py): every field is checked here,
        # before it can join other callers' batch.
        _too_many(len(scheduler_task_hashes), "scheduler_task_hashes")
        ch.check_hashes(scheduler_task_hashes, field="scheduler_task_hashes")
        ns = await self._ns.resolve(namespace)
        if scope == "NONE":
            return CheckResult("MISS")
        kinds = set(allowed) or {"CSE", "SINGLE", "ULTIMATE"}
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
        # One database round trip returns every candidate in check order; the first whose value
        # (and, for large values, whose bytes in the blob store) is readable wins.
        for cand in await self._repo.cache_candidates(ns, query):
            value = await self._load(ns, cand.value)
            if value is None:
                continue
            if cand.kind == "SINGLE" or cand.call_hash is None:
                return CheckResult(cand.kind, None, value)
            subtree = cand.subtree_task_hashes
            if subtree is None:
                node = await self._repo.get_call_node(ns, cand.call_hash)
                subtree = node.subtree_task_hashes if node is not None else []
            return CheckResult(cand.kind, cand.call_hash, value, subtree)
        return CheckResult("MISS")

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
            self._check_value(value, "value")
            if value.value_hash != value_hash:
                raise InvalidArgument("value.value_hash differs from value_hash", reason=Reason.INVALID_HASH)
        ns = await self._ns.resolve(namespace)
        stored: StoredValue | None = None
        if value is not None:
            prepared = await self._store(ns, [value])
            stored = prepared[0] if prepared else None
        if not await self._repo.set_eval_cache(ns, eval_hash, task_hash, args_hash, value_hash, stored):
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
        return await self._repo.explain_cache_miss(ns, task_name, task_hash, args_hash)

    # Executions and jobs

    async def record_execution(self, namespace: str, exec_id: str, args: Sequence[str]) -> None:
        ch.check_text(exec_id, field="id")
        ns = await self._ns.resolve(namespace)
        await self._repo.record_execution(ns, exec_id, list(args))

    async def record_updated_time(self, namespace: str, exec_id: str) -> None:
        ch.check_text(exec_id, field="execution_id")
        ns = await self._ns.resolve(namespace)
        if not await self._repo.record_updated_time(ns, exec_id):
            raise NotFound(f"execution {exec_id!r} not found", reason=Reason.EXECUTION_NOT_FOUND)

    def _check_job(self, job: JobIn) -> None:
        ch.check_text(job.id, field="job.id")
        ch.check_hash(job.task_hash, field="job.task_hash")
        ch.check_text(job.execution_id, field="job.execution_id")
        if job.call_hash:
            ch.check_hash(job.call_hash, field="job.call_hash")

    async def record_job_start(self, namespace: str, job: JobIn) -> None:
        self._check_job(job)
        ns = await self._ns.resolve(namespace)
        await self._repo.record_job_start(ns, job)

    async def record_job_end(self, namespace: str, job: JobIn) -> None:
        self._check_job(job)
        ns = await self._ns.resolve(namespace)
        await self._repo.record_job_end(ns, job)

    async def get_job(self, namespace: str, job_id: str) -> JobRow:
        ch.check_text(job_id, field="id")
        ns = await self._ns.resolve(namespace)
        row = await self._repo.get_job(ns, job_id)
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
            self._check_value(v, f"values[{i}]")
        ns = await self._ns.resolve(namespace)
        await self._repo.advance_handle(ns, ancestors, parents, child, await self._store(ns, values))

    async def rollback_handle(self, namespace: str, handle_hash: str, fullname: str) -> int:
        ch.check_hash(handle_hash, field="hash")
        ch.check_text(fullname, field="fullname")
        ns = await self._ns.resolve(namespace)
        return await self._repo.rollback_handle(ns, handle_hash, fullname)

    async def is_valid_handle(self, namespace: str, handle_hash: str) -> bool:
        ch.check_hash(handle_hash, field="hash")
        ns = await self._ns.resolve(namespace)
        return await self._repo.is_valid_handle(ns, handle_hash)

    # Records (sync between provenance databases)

    async def get_records(self, namespace: str, ids: Sequence[str]) -> list[tuple[str, str]]:
        _too_many(len(ids), "ids")
        ns = await self._ns.resolve(namespace)
        found = dict(await self._repo.get_records(ns, list(dict.fromkeys(ids))))
        out = []
        for record_id in dict.fromkeys(ids):
            rec = found.get(record_id)
            if rec is None:
                continue
            if rec.get("_type") == "Value" and rec.pop("_blob", None) is not None:
                value = await self._load(ns, (await self._repo.get_values(ns, [record_id])).get(record_id))
                if value is None:
                    continue
                rec["value"] = base64.b64encode(value.data).decode()
            out.append((record_id, json.dumps(rec, sort_keys=True)))
        return out

    async def put_records(self, namespace: str, records: Sequence[tuple[str, str]]) -> int:
        _too_many(len(records), "records")
        parsed: list[tuple[str, dict[str, Any]]] = []
        values: list[ValueIn] = []
        for i, (record_id, text) in enumerate(records):
            try:
                rec = validation.json_value(text, field=f"records[{i}].json")
            except InvalidArgument as exc:
                raise InvalidArgument(
                    f"records[{i}]: {exc.message}", reason=Reason.INVALID_RECORD, metadata={"index": str(i)}
                ) from None
            if not isinstance(rec, dict) or rec.get("_type") not in RECORD_TYPES:
                raise InvalidArgument(
                    f"records[{i}] is not a JSON object with a known _type",
                    reason=Reason.INVALID_RECORD,
                    metadata={"index": str(i)},
                )
            try:
                _validate_record(rec, record_id)
                if rec["_type"] == "Value":
                    values.append(
                        ValueIn(rec["value_hash"], rec["type"], rec.get("format", ""), base64.b64decode(rec["value"]))
                    )
            except (KeyError, TypeError, ValueError, binascii.Error, InvalidArgument) as exc:
                raise InvalidArgument(
                    f"records[{i}] is malformed: {exc}", reason=Reason.INVALID_RECORD, metadata={"index": str(i)}
                ) from None
            parsed.append((record_id, rec))
        ns = await self._ns.resolve(namespace)
        known = set(await self._repo.known_record_ids(ns, [r for r, _ in parsed]))
        fresh: dict[str, dict[str, Any]] = {}
        for record_id, rec in parsed:
            if record_id not in known:
                fresh.setdefault(record_id, rec)
        stored = {s.value_hash: s for s in await self._store(ns, [v for v in values if v.value_hash in fresh])}
        for record_id, rec in fresh.items():
            if rec["_type"] == "Value":
                rec["_stored"] = stored.get(record_id)
        return await self._repo.put_records(ns, list(fresh.items()))

    async def iter_record_ids(self, namespace: str, roots: Sequence[str]) -> AsyncIterator[list[str]]:
        _too_many(len(roots), "root_ids")
        ns = await self._ns.resolve(namespace)
        seen: set[str] = set()
        layer = await self._repo.known_record_ids(ns, list(dict.fromkeys(roots)))
        while layer:
            new = [i for i in dict.fromkeys(layer) if i not in seen]
            if not new:
                return
            seen.update(new)
            yield new
            layer = await self._repo.child_record_ids(ns, new)


_TEXT, _OPT_TEXT, _TEXTS, _TIME, _BOOL, _ANY = "text", "text|null", "[text]", "time|null", "bool", "any"
# What each record type's fields must be before they reach SQL; fields not listed are ignored.
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


def _validate_record(rec: dict[str, Any], record_id: str) -> None:
    kind = rec["_type"]
    _check_fields(rec, _RECORD_FIELDS[kind], "")
    for name in _REQUIRED.get(kind, ()):
        if name not in rec:
            raise ValueError(f"{name} is missing")
    if kind == "CallNode":
        arguments = rec.get("arguments", [])
        if not isinstance(arguments, list) or len(arguments) > MAX_ITEMS:
            raise ValueError("arguments must be a list")
        for a in arguments:
            if not isinstance(a, dict):
                raise ValueError("arguments must be objects")
            _check_fields(a, _ARGUMENT_FIELDS, "arguments.")
            if "arg_hash" not in a or "value_hash" not in a:
                raise ValueError("arguments need arg_hash and value_hash")
            position = a.get("arg_position")
            if position is not None and (type(position) is not int or not -(2**31) <= position < 2**31):
                raise ValueError("arguments.arg_position must be a 32-bit integer or null")
    key = {"Execution": "id", "Job": "id", "CallNode": "call_hash", "Value": "value_hash", "Tag": "tag_hash"}[kind]
    if rec[key] != record_id:
        raise ValueError(f"id {record_id!r} differs from the record's {key}")
    if kind in ("CallNode", "Value", "Tag"):
        ch.check_hash(record_id, field=key)
    else:
        ch.check_text(record_id, field=key)
