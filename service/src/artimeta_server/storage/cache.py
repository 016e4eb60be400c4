"""The call graph and caches in Postgres: set-based writes (unnest), insert-if-absent everywhere,
and the whole cache check as one statement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from artimeta_server.domain.cache_models import (
    CONTEXT_TAG_KEY,
    CacheCandidate,
    CacheQuery,
    CallNodeIn,
    CallNodeRow,
    HandleIn,
    JobIn,
    JobRow,
    MissExplanation,
    StoredValue,
)
from artimeta_server.domain.digests import Digest
from artimeta_server.domain.errors import DeadlineExceeded, Unavailable
from artimeta_server.storage.batcher import Batcher
from artimeta_server.storage.postgres import Database

# Counted by RETURNING: on Citus an INSERT ... SELECT's status counts the rows given, not inserted.
_INSERT_VALUES = """
INSERT INTO cache_values (namespace_id, value_hash, type_name, format, data, blob_hash, blob_size, size)
SELECT $1, v.h, v.t, v.f, v.d, v.bh, v.bs, v.s
FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[], $7::bigint[], $8::bigint[])
     AS v(h, t, f, d, bh, bs, s)
ON CONFLICT DO NOTHING RETURNING 1
"""

_VALUE_COLUMNS = "v.value_hash, v.type_name, v.format, v.data, v.blob_hash, v.blob_size, v.size"


# Every candidate of a batch of cache checks in one namespace ($1), in check order per check (i is
# the check's 1-based position in the batch). One namespace per statement, and every table
# filtered by $1 itself: on Citus the statement then runs whole on that namespace's shard. CSE: the newest job of the execution with the same task and arguments
# (redun looks at that one only); ULTIMATE: the newest call node of the task and arguments whose
# subtree tasks are all current; SINGLE: the evaluation row. Values, and the subtree of a call
# node, come in the same statement. The arrays are read through sub-selects so that no plan sees
# their length: otherwise each batch size looks cheaper to plan afresh and Postgres re-plans the
# prepared statement on every call (≈ 0.4 ms, four times the execution).
_CONTEXT_MATCHES = f"""(q.ctx IS NULL OR EXISTS (
      SELECT 1 FROM tags t WHERE t.namespace_id = $1 AND t.entity_id = c.call_hash
        AND t.key = '{CONTEXT_TAG_KEY}' AND t.value = to_jsonb(q.ctx)))"""
_CANDIDATES = f"""
WITH q AS (
  SELECT * FROM unnest((SELECT $2::text[]), (SELECT $3::text[]), (SELECT $4::text[]),
                       (SELECT $5::text[]), (SELECT $6::text[]), (SELECT $7::text[]), (SELECT $8::bool[]),
                       (SELECT $9::bool[]), (SELECT $10::bool[]))
    WITH ORDINALITY AS q(task_hash, args_hash, eval_hash, execution_id, sched, ctx, want_cse, want_ult,
                         want_single, i)),
k AS (
  SELECT q.i, 1 AS prio, cse.call_hash, cse.value_hash FROM q CROSS JOIN LATERAL (
    SELECT c.call_hash, c.value_hash
    FROM cache_jobs j JOIN cache_call_nodes c ON c.namespace_id = $1 AND c.call_hash = j.call_hash
    WHERE q.want_cse AND j.namespace_id = $1 AND j.execution_id = q.execution_id AND j.task_hash = q.task_hash
      AND c.args_hash = q.args_hash AND {_CONTEXT_MATCHES}
    ORDER BY j.start_time DESC LIMIT 1) cse
  UNION ALL
  SELECT q.i, 2, ult.call_hash, ult.value_hash FROM q CROSS JOIN LATERAL (
    SELECT c.call_hash, c.value_hash
    FROM cache_call_nodes c
    WHERE q.want_ult AND c.namespace_id = $1 AND c.task_hash = q.task_hash AND c.args_hash = q.args_hash
      AND NOT EXISTS (
        SELECT 1 FROM cache_call_subtree_tasks s
        WHERE s.namespace_id = $1 AND s.call_hash = c.call_hash
          AND NOT (s.task_hash = ANY(string_to_array(q.sched, ','))))
      AND {_CONTEXT_MATCHES}
    ORDER BY c.create_time DESC LIMIT 1) ult
  UNION ALL
  SELECT q.i, 3, NULL::text, e.value_hash
  FROM q JOIN cache_evaluations e ON e.namespace_id = $1 AND e.eval_hash = q.eval_hash
  WHERE q.want_single)
SELECT k.i, k.prio, k.call_hash, {_VALUE_COLUMNS},
  CASE WHEN k.call_hash IS NOT NULL THEN ARRAY(
    SELECT s.task_hash FROM cache_call_subtree_tasks s WHERE s.namespace_id = $1 AND s.call_hash = k.call_hash
    ORDER BY s.task_hash) END AS subtree
FROM k LEFT JOIN cache_values v ON v.namespace_id = $1 AND v.value_hash = k.value_hash
ORDER BY k.i, k.prio"""
_KINDS = {1: "CSE", 2: "ULTIMATE", 3: "SINGLE"}


def _stored(r: asyncpg.Record) -> StoredValue | None:
    if r["value_hash"] is None:
        return None
    blob = Digest(r["blob_hash"], r["blob_size"]) if r["blob_hash"] is not None else None
    return StoredValue(r["value_hash"], r["type_name"], r["format"], r["data"], blob, r["size"])


async def _insert_values(conn: asyncpg.Connection, ns: int, values: Sequence[StoredValue]) -> int:
    if not values:
        return 0
    created = await conn.fetch(
        _INSERT_VALUES,
        ns,
        [v.value_hash for v in values],
        [v.type_name for v in values],
        [v.format for v in values],
        [v.data for v in values],
        [v.blob.hash if v.blob else None for v in values],
        [v.blob.size if v.blob else None for v in values],
        [v.size for v in values],
    )
    return len(created)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _shared_failure(exc: Exception) -> bool:
    """A failure no single check of a batch caused: running each check alone would only fail N times."""
    return isinstance(exc, (Unavailable, DeadlineExceeded))


class PostgresCache:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._candidates: Batcher[tuple[int, CacheQuery], list[CacheCandidate]] = Batcher(
            self._candidates_batch, shared_failure=_shared_failure
        )

    async def insert_values(self, ns: int, values: Sequence[StoredValue]) -> int:
        async with self._db.connection() as conn:
            return await _insert_values(conn, ns, values)

    async def existing_values(self, ns: int, hashes: Sequence[str]) -> set[str]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                "SELECT value_hash FROM cache_values WHERE namespace_id = $1 AND value_hash = ANY($2::text[])",
                ns,
                list(hashes),
            )
        return {r[0] for r in rows}

    async def get_values(self, ns: int, hashes: Sequence[str]) -> dict[str, StoredValue]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                f"SELECT {_VALUE_COLUMNS} FROM cache_values v WHERE v.namespace_id = $1 AND v.value_hash = ANY($2::text[])",
                ns,
                list(hashes),
            )
        out = {}
        for r in rows:
            s = _stored(r)
            if s is not None:
                out[s.value_hash] = s
        return out

    async def insert_call_node(self, ns: int, node: CallNodeIn, values: Sequence[StoredValue]) -> None:
        async with self._db.transaction() as conn:
            await _insert_values(conn, ns, values)
            await self._insert_call_node(conn, ns, node)

    async def _insert_call_node(
        self, conn: asyncpg.Connection, ns: int, node: CallNodeIn, create_time: datetime | None = None
    ) -> None:
        created = await conn.fetchval(
            """INSERT INTO cache_call_nodes (namespace_id, call_hash, task_name, task_hash, args_hash, value_hash,
                                            create_time)
               VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, now())) ON CONFLICT DO NOTHING RETURNING true""",
            ns,
            node.call_hash,
            node.task_name,
            node.task_hash,
            node.args_hash,
            node.value_hash,
            create_time,
        )
        if not created:
            return
        if node.children:
            # Edges only to children that were recorded (a child may be skipped by its engine).
            await conn.execute(
                """INSERT INTO cache_call_edges (namespace_id, parent_hash, child_hash, call_order)
                   SELECT $1, $2, c.h, min(c.o - 1) FROM unnest($3::text[]) WITH ORDINALITY AS c(h, o)
                   JOIN cache_call_nodes n ON n.namespace_id = $1 AND n.call_hash = c.h
                   GROUP BY c.h ON CONFLICT DO NOTHING""",
                ns,
                node.call_hash,
                node.children,
            )
        if node.subtree_task_hashes:
            await conn.execute(
                """INSERT INTO cache_call_subtree_tasks (namespace_id, call_hash, task_hash)
                   SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING""",
                ns,
                node.call_hash,
                node.subtree_task_hashes,
            )
        if node.arguments:
            await conn.execute(
                """INSERT INTO cache_arguments (namespace_id, arg_hash, call_hash, value_hash, arg_position, arg_key)
                   SELECT $1, a.h, $2, a.v, a.p, a.k FROM unnest($3::text[], $4::text[], $5::int[], $6::text[]) AS a(h, v, p, k)
                   ON CONFLICT DO NOTHING""",
                ns,
                node.call_hash,
                [h for h, _ in node.arguments],
                [a.value_hash for _, a in node.arguments],
                [a.position for _, a in node.arguments],
                [a.key for _, a in node.arguments],
            )
            pairs = [(h, up) for h, a in node.arguments for up in dict.fromkeys(a.upstream_call_hashes)]
            if pairs:
                await conn.execute(
                    """INSERT INTO cache_argument_results (namespace_id, arg_hash, result_call_hash)
                       SELECT $1, p.a, p.r FROM unnest($2::text[], $3::text[]) AS p(a, r) ON CONFLICT DO NOTHING""",
                    ns,
                    [a for a, _ in pairs],
                    [r for _, r in pairs],
                )

    async def get_call_node(self, ns: int, call_hash: str) -> CallNodeRow | None:
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                """SELECT c.*,
                     ARRAY(SELECT child_hash FROM cache_call_edges e WHERE e.namespace_id = $1 AND e.parent_hash = $2
                           ORDER BY call_order) AS children,
                     ARRAY(SELECT task_hash FROM cache_call_subtree_tasks s WHERE s.namespace_id = $1 AND s.call_hash = $2
                           ORDER BY task_hash) AS subtree
                   FROM cache_call_nodes c WHERE c.namespace_id = $1 AND c.call_hash = $2""",
                ns,
                call_hash,
            )
        if r is None:
            return None
        return CallNodeRow(
            r["call_hash"],
            r["task_name"],
            r["task_hash"],
            r["args_hash"],
            r["value_hash"],
            r["create_time"],
            list(r["children"]),
            list(r["subtree"]),
        )

    async def cache_candidates(self, ns: int, q: CacheQuery) -> list[CacheCandidate]:
        # The hottest read of the service: concurrent checks share one statement (storage/batcher.py).
        return await self._candidates((ns, q))

    async def _candidates_batch(self, keys: Sequence[tuple[int, CacheQuery]]) -> list[list[CacheCandidate]]:
        out: list[list[CacheCandidate]] = [[] for _ in keys]
        by_namespace: dict[int, list[int]] = {}
        for position, (ns, _) in enumerate(keys):
            by_namespace.setdefault(ns, []).append(position)
        async with self._db.kept_connection() as conn:
            for ns, positions in by_namespace.items():
                qs = [keys[p][1] for p in positions]
                rows = await conn.fetch(
                    _CANDIDATES,
                    ns,
                    [q.task_hash for q in qs],
                    [q.args_hash for q in qs],
                    [q.eval_hash for q in qs],
                    [q.execution_id for q in qs],
                    # Hashes are 40 hex digits: one comma-joined text per check keeps the arrays flat.
                    [",".join(q.scheduler_task_hashes) for q in qs],
                    [q.context_hash for q in qs],
                    [q.want_cse for q in qs],
                    [q.want_ultimate for q in qs],
                    [q.want_single for q in qs],
                )
                for r in rows:
                    subtree = r["subtree"]
                    out[positions[r["i"] - 1]].append(
                        CacheCandidate(
                            _KINDS[r["prio"]],
                            r["call_hash"],
                            _stored(r),
                            list(subtree) if subtree is not None else None,
                        )
                    )
        return out

    async def set_eval_cache(
        self, ns: int, eval_hash: str, task_hash: str, args_hash: str, value_hash: str, value: StoredValue | None
    ) -> bool:
        async with self._db.transaction() as conn:
            if value is not None:
                await _insert_values(conn, ns, [value])
            done = await conn.fetchval(
                """INSERT INTO cache_evaluations (namespace_id, eval_hash, task_hash, args_hash, value_hash)
                   SELECT $1, $2, $3, $4, $5
                   WHERE EXISTS (SELECT 1 FROM cache_values WHERE namespace_id = $1 AND value_hash = $5)
                   ON CONFLICT (namespace_id, eval_hash) DO UPDATE SET value_hash = EXCLUDED.value_hash
                   RETURNING true""",
                ns,
                eval_hash,
                task_hash,
                args_hash,
                value_hash,
            )
        return bool(done)

    async def explain_cache_miss(self, ns: int, task_name: str, task_hash: str, args_hash: str) -> MissExplanation:
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                """SELECT call_hash, task_hash, args_hash FROM cache_call_nodes
                   WHERE namespace_id = $1 AND args_hash = $2 AND task_name = $3
                   ORDER BY create_time DESC LIMIT 1""",
                ns,
                args_hash,
                task_name,
            )
            if r is not None:
                return MissExplanation("new_task", r[0], r[1], r[2])
            r = await conn.fetchrow(
                """SELECT call_hash, task_hash, args_hash FROM cache_call_nodes
                   WHERE namespace_id = $1 AND task_hash = $2 ORDER BY create_time DESC LIMIT 1""",
                ns,
                task_hash,
            )
        if r is not None:
            return MissExplanation("new_args", r[0], r[1], r[2])
        return MissExplanation("new_call")

    async def record_execution(self, ns: int, exec_id: str, args: list[str]) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                """INSERT INTO cache_executions (namespace_id, id, args) VALUES ($1, $2, $3::jsonb)
                   ON CONFLICT DO NOTHING""",
                ns,
                exec_id,
                json.dumps(args),
            )

    async def record_updated_time(self, ns: int, exec_id: str) -> bool:
        async with self._db.connection() as conn:
            status: str = await conn.execute(
                "UPDATE cache_executions SET updated_time = now() WHERE namespace_id = $1 AND id = $2", ns, exec_id
            )
        return status != "UPDATE 0"

    async def _job_start(self, conn: asyncpg.Connection, ns: int, job: JobIn) -> None:
        await conn.execute(
            """INSERT INTO cache_jobs (namespace_id, id, task_hash, execution_id, parent_id, start_time)
               VALUES ($1, $2, $3, $4, $5, coalesce($6, now())) ON CONFLICT DO NOTHING""",
            ns,
            job.id,
            job.task_hash,
            job.execution_id,
            job.parent_id,
            job.time,
        )
        if not job.parent_id:
            await conn.execute(
                """INSERT INTO cache_executions (namespace_id, id, job_id) VALUES ($1, $2, $3)
                   ON CONFLICT (namespace_id, id) DO UPDATE SET job_id = coalesce(cache_executions.job_id, EXCLUDED.job_id)""",
                ns,
                job.execution_id,
                job.id,
            )

    async def record_job_start(self, ns: int, job: JobIn) -> None:
        async with self._db.transaction() as conn:
            await self._job_start(conn, ns, job)

    async def record_job_end(self, ns: int, job: JobIn) -> None:
        now = job.time or datetime.now(UTC)
        async with self._db.transaction() as conn:
            await self._job_start(conn, ns, JobIn(job.id, job.task_hash, job.execution_id, job.parent_id, time=now))
            await conn.execute(
                """UPDATE cache_jobs SET end_time = $3, call_hash = $4, cached = $5, status = $6
                   WHERE namespace_id = $1 AND id = $2""",
                ns,
                job.id,
                now,
                job.call_hash or None,
                job.cached,
                job.status,
            )

    async def get_job(self, ns: int, job_id: str) -> JobRow | None:
        async with self._db.connection() as conn:
            r = await conn.fetchrow("SELECT * FROM cache_jobs WHERE namespace_id = $1 AND id = $2", ns, job_id)
        if r is None:
            return None
        return JobRow(
            r["id"],
            r["task_hash"],
            r["execution_id"],
            r["parent_id"],
            r["call_hash"],
            r["cached"],
            r["status"],
            r["start_time"],
            r["end_time"],
        )

    async def advance_handle(
        self,
        ns: int,
        ancestors: Sequence[HandleIn],
        parents: Sequence[HandleIn],
        child: HandleIn,
        values: Sequence[StoredValue],
    ) -> None:
        handles = [*ancestors, child, *parents]
        async with self._db.transaction() as conn:
            await _insert_values(conn, ns, values)
            await conn.execute(
                """INSERT INTO cache_handles (namespace_id, hash, fullname, key, value_hash)
                   SELECT $1, h.h, h.f, h.k, h.v FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS h(h, f, k, v)
                   ON CONFLICT DO NOTHING""",
                ns,
                [h.hash for h in handles],
                [h.fullname for h in handles],
                [h.key for h in handles],
                [h.value_hash for h in handles],
            )
            if parents:
                await conn.execute(
                    """INSERT INTO cache_handle_edges (namespace_id, parent_hash, child_hash)
                       SELECT $1, p, $3 FROM unnest($2::text[]) AS p ON CONFLICT DO NOTHING""",
                    ns,
                    [p.hash for p in parents],
                    child.hash,
                )

    async def rollback_handle(self, ns: int, handle_hash: str, fullname: str) -> int:
        async with self._db.transaction() as conn:
            status: str = await conn.execute(
                """
WITH RECURSIVE same AS (
  SELECT h.hash, e.child_hash FROM cache_handles h
  JOIN cache_handle_edges e ON e.namespace_id = h.namespace_id AND e.parent_hash = h.hash
  WHERE h.namespace_id = $1 AND h.fullname = $2 AND h.is_valid),
bad(hash) AS (
  SELECT child_hash FROM same WHERE hash = $3
  UNION SELECT s.child_hash FROM same s JOIN bad ON s.hash = bad.hash)
UPDATE cache_handles SET is_valid = false
WHERE namespace_id = $1 AND hash IN (SELECT hash FROM bad) AND is_valid""",
                ns,
                fullname,
                handle_hash,
            )
        return int(status.rsplit(" ", 1)[1])

    async def is_valid_handle(self, ns: int, handle_hash: str) -> bool:
        async with self._db.connection() as conn:
            valid = await conn.fetchval(
                "SELECT is_valid FROM cache_handles WHERE namespace_id = $1 AND hash = $2", ns, handle_hash
            )
        return bool(valid)

    # Records

    async def known_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                """SELECT i FROM unnest($2::text[]) WITH ORDINALITY AS x(i, o)
                   WHERE EXISTS (SELECT 1 FROM cache_executions WHERE namespace_id = $1 AND id = i)
                      OR EXISTS (SELECT 1 FROM cache_jobs WHERE namespace_id = $1 AND id = i)
                      OR EXISTS (SELECT 1 FROM cache_call_nodes WHERE namespace_id = $1 AND call_hash = i)
                      OR EXISTS (SELECT 1 FROM cache_values WHERE namespace_id = $1 AND value_hash = i)
                      OR EXISTS (SELECT 1 FROM tags WHERE namespace_id = $1 AND tag_hash = i)
                   ORDER BY o""",
                ns,
                list(ids),
            )
        return [r[0] for r in rows]

    async def child_record_ids(self, ns: int, ids: Sequence[str]) -> list[str]:
        async with self._db.connection() as conn:
            rows = await conn.fetch(
                """
WITH i AS (SELECT unnest($2::text[]) AS id)
SELECT job_id FROM cache_executions e JOIN i ON e.id = i.id WHERE e.namespace_id = $1 AND job_id IS NOT NULL
UNION ALL SELECT task_hash FROM cache_jobs j JOIN i ON j.id = i.id WHERE j.namespace_id = $1
UNION ALL SELECT call_hash FROM cache_jobs j JOIN i ON j.id = i.id WHERE j.namespace_id = $1 AND call_hash IS NOT NULL
UNION ALL SELECT j.id FROM cache_jobs j JOIN i ON j.parent_id = i.id WHERE j.namespace_id = $1
UNION ALL SELECT task_hash FROM cache_call_nodes c JOIN i ON c.call_hash = i.id WHERE c.namespace_id = $1
UNION ALL SELECT value_hash FROM cache_call_nodes c JOIN i ON c.call_hash = i.id WHERE c.namespace_id = $1
UNION ALL SELECT a.value_hash FROM cache_arguments a JOIN i ON a.call_hash = i.id WHERE a.namespace_id = $1
UNION ALL SELECT r.result_call_hash FROM cache_arguments a JOIN i ON a.call_hash = i.id
  JOIN cache_argument_results r ON r.namespace_id = a.namespace_id AND r.arg_hash = a.arg_hash WHERE a.namespace_id = $1
UNION ALL SELECT e.child_hash FROM cache_call_edges e JOIN i ON e.parent_hash = i.id WHERE e.namespace_id = $1
UNION ALL SELECT e.parent_hash FROM tag_edits e JOIN i ON e.child_hash = i.id WHERE e.namespace_id = $1
UNION ALL SELECT e.child_hash FROM tag_edits e JOIN i ON e.parent_hash = i.id WHERE e.namespace_id = $1
UNION ALL SELECT t.tag_hash FROM tags t JOIN i ON t.entity_id = i.id WHERE t.namespace_id = $1""",
                ns,
                list(ids),
            )
        found = [r[0] for r in rows]
        return await self.known_record_ids(ns, list(dict.fromkeys(found))) if found else []

    async def get_records(self, ns: int, ids: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        out: list[tuple[str, dict[str, Any]]] = []
        async with self._db.connection() as conn:
            for r in await conn.fetch(
                "SELECT * FROM cache_executions WHERE namespace_id = $1 AND id = ANY($2::text[])", ns, list(ids)
            ):
                out.append(
                    (
                        r["id"],
                        {
                            "_type": "Execution",
                            "id": r["id"],
                            "args": json.loads(r["args"]),
                            "job_id": r["job_id"],
                            "updated_time": _ts(r["updated_time"]),
                        },
                    )
                )
            for r in await conn.fetch(
                """SELECT j.*, ARRAY(SELECT c.id FROM cache_jobs c WHERE c.namespace_id = $1 AND c.parent_id = j.id
                                     ORDER BY c.start_time, c.id) AS children
                   FROM cache_jobs j WHERE j.namespace_id = $1 AND j.id = ANY($2::text[])""",
                ns,
                list(ids),
            ):
                out.append(
                    (
                        r["id"],
                        {
                            "_type": "Job",
                            "id": r["id"],
                            "task_hash": r["task_hash"],
                            "execution_id": r["execution_id"],
                            "parent_id": r["parent_id"],
                            "call_hash": r["call_hash"],
                            "cached": r["cached"],
                            "status": r["status"],
                            "start_time": _ts(r["start_time"]),
                            "end_time": _ts(r["end_time"]),
                            "children": list(r["children"]),
                        },
                    )
                )
            for r in await conn.fetch(
                """SELECT c.*,
                     ARRAY(SELECT child_hash FROM cache_call_edges e WHERE e.namespace_id = $1 AND e.parent_hash = c.call_hash
                           ORDER BY call_order) AS children,
                     ARRAY(SELECT task_hash FROM cache_call_subtree_tasks s WHERE s.namespace_id = $1 AND s.call_hash = c.call_hash
                           ORDER BY task_hash) AS subtree,
                     (SELECT coalesce(jsonb_agg(jsonb_build_object(
                         'arg_hash', a.arg_hash, 'value_hash', a.value_hash, 'arg_position', a.arg_position,
                         'arg_key', a.arg_key,
                         'upstream', ARRAY(SELECT result_call_hash FROM cache_argument_results r
                                           WHERE r.namespace_id = $1 AND r.arg_hash = a.arg_hash ORDER BY 1))
                         ORDER BY a.arg_position NULLS LAST, a.arg_key), '[]'::jsonb)
                      FROM cache_arguments a WHERE a.namespace_id = $1 AND a.call_hash = c.call_hash) AS arguments
                   FROM cache_call_nodes c WHERE c.namespace_id = $1 AND c.call_hash = ANY($2::text[])""",
                ns,
                list(ids),
            ):
                out.append(
                    (
                        r["call_hash"],
                        {
                            "_type": "CallNode",
                            "call_hash": r["call_hash"],
                            "task_name": r["task_name"],
                            "task_hash": r["task_hash"],
                            "args_hash": r["args_hash"],
                            "value_hash": r["value_hash"],
                            "timestamp": _ts(r["create_time"]),
                            "children": list(r["children"]),
                            "subtree_tasks": list(r["subtree"]),
                            "arguments": json.loads(r["arguments"]),
                        },
                    )
                )
            for r in await conn.fetch(
                f"SELECT {_VALUE_COLUMNS} FROM cache_values v WHERE v.namespace_id = $1 AND v.value_hash = ANY($2::text[])",
                ns,
                list(ids),
            ):
                rec: dict[str, Any] = {
                    "_type": "Value",
                    "value_hash": r["value_hash"],
                    "type": r["type_name"],
                    "format": r["format"],
                }
                if r["data"] is not None:
                    import base64

                    rec["value"] = base64.b64encode(r["data"]).decode()
                else:
                    rec["_blob"] = True
                out.append((r["value_hash"], rec))
            for r in await conn.fetch(
                """SELECT t.*, ARRAY(SELECT parent_hash FROM tag_edits e WHERE e.namespace_id = $1 AND e.child_hash = t.tag_hash
                                     ORDER BY 1) AS parents
                   FROM tags t WHERE t.namespace_id = $1 AND t.tag_hash = ANY($2::text[])""",
                ns,
                list(ids),
            ):
                out.append(
                    (
                        r["tag_hash"],
                        {
                            "_type": "Tag",
                            "tag_hash": r["tag_hash"],
                            "entity_type": r["entity_type"],
                            "entity_id": r["entity_id"],
                            "key": r["key"],
                            "value": json.loads(r["value_json"]),
                            "parents": list(r["parents"]),
                            "timestamp": _ts(r["create_time"]),
                        },
                    )
                )
        return out

    async def put_records(self, ns: int, records: Sequence[tuple[str, dict[str, Any]]]) -> int:
        created = 0
        touched: list[str] = []
        async with self._db.transaction() as conn:
            for _, rec in records:
                kind = rec["_type"]
                if kind == "Value":
                    stored = rec.get("_stored")
                    if stored is not None:
                        created += await _insert_values(conn, ns, [stored])
                elif kind == "Execution":
                    status = await conn.execute(
                        """INSERT INTO cache_executions (namespace_id, id, args, job_id, updated_time)
                           VALUES ($1, $2, $3::jsonb, $4, coalesce($5, now())) ON CONFLICT DO NOTHING""",
                        ns,
                        rec["id"],
                        json.dumps(rec.get("args", [])),
                        rec.get("job_id"),
                        _dt(rec.get("updated_time")),
                    )
                    created += int(status.rsplit(" ", 1)[1])
                elif kind == "Job":
                    status = await conn.execute(
                        """INSERT INTO cache_jobs (namespace_id, id, task_hash, execution_id, parent_id, call_hash, cached,
                                                   status, start_time, end_time)
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), $10) ON CONFLICT DO NOTHING""",
                        ns,
                        rec["id"],
                        rec["task_hash"],
                        rec["execution_id"],
                        rec.get("parent_id"),
                        rec.get("call_hash"),
                        bool(rec.get("cached", False)),
                        rec.get("status"),
                        _dt(rec.get("start_time")),
                        _dt(rec.get("end_time")),
                    )
                    created += int(status.rsplit(" ", 1)[1])
                elif kind == "CallNode":
                    from artimeta_server.domain import content_hash as ch
                    from artimeta_server.domain.cache_models import CallArgument

                    args = [
                        (
                            a["arg_hash"],
                            CallArgument(
                                a.get("arg_position"), a.get("arg_key"), a["value_hash"], list(a.get("upstream", []))
                            ),
                        )
                        for a in rec.get("arguments", [])
                    ]
                    for h, _ in args:
                        ch.check_hash(h, field="arguments.arg_hash")
                    before = await conn.fetchval(
                        "SELECT count(*) FROM cache_call_nodes WHERE namespace_id = $1 AND call_hash = $2",
                        ns,
                        rec["call_hash"],
                    )
                    # Children may arrive later in the same batch: edges are written without that check.
                    await self._insert_call_node(
                        conn,
                        ns,
                        CallNodeIn(
                            rec["call_hash"],
                            rec["task_name"],
                            rec["task_hash"],
                            rec["args_hash"],
                            rec["value_hash"],
                            [],
                            args,
                            sorted(set(rec.get("subtree_tasks", []))),
                        ),
                        # A synced call keeps its time: the newest call wins an ultimate check.
                        _dt(rec.get("timestamp")),
                    )
                    children = list(rec.get("children", []))
                    if children:
                        await conn.execute(
                            """INSERT INTO cache_call_edges (namespace_id, parent_hash, child_hash, call_order)
                               SELECT $1, $2, c.h, min(c.o - 1) FROM unnest($3::text[]) WITH ORDINALITY AS c(h, o)
                               GROUP BY c.h ON CONFLICT DO NOTHING""",
                            ns,
                            rec["call_hash"],
                            children,
                        )
                    created += 1 - int(before)
                elif kind == "Tag":
                    value_json = json.dumps(rec.get("value"), separators=(",", ":"), sort_keys=True)
                    status = await conn.execute(
                        """INSERT INTO tags (namespace_id, tag_hash, entity_type, entity_id, key, value, value_json,
                                            create_time)
                           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $6, coalesce($7, now())) ON CONFLICT DO NOTHING""",
                        ns,
                        rec["tag_hash"],
                        rec["entity_type"],
                        rec["entity_id"],
                        rec["key"],
                        value_json,
                        _dt(rec.get("timestamp")),
                    )
                    created += int(status.rsplit(" ", 1)[1])
                    parents = list(rec.get("parents", []))
                    touched += [rec["tag_hash"], *parents]
                    if parents:
                        await conn.execute(
                            """INSERT INTO tag_edits (namespace_id, parent_hash, child_hash)
                               SELECT $1, p, $3 FROM unnest($2::text[]) AS p ON CONFLICT DO NOTHING""",
                            ns,
                            parents,
                            rec["tag_hash"],
                        )
            # Only tags that nothing supersedes are current (as redun recomputes after a sync). Only
            # this batch's tags and the parents they name can have gained a superseding edge: a tag
            # arriving after its child meets the edge the child brought.
            if touched:
                await conn.execute(
                    """UPDATE tags t SET is_current = false
                       WHERE t.namespace_id = $1 AND t.tag_hash = ANY($2::text[]) AND t.is_current
                       AND EXISTS (SELECT 1 FROM tag_edits e WHERE e.namespace_id = $1 AND e.parent_hash = t.tag_hash)""",
                    ns,
                    list(dict.fromkeys(touched)),
                )
        return created
