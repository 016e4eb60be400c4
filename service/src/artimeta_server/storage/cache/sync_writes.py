"""redun's sync records written to the cache tables and tags: one set-based INSERT per table,
inserted if absent, counted by RETURNING (on Citus an INSERT ... SELECT's status counts the rows
given, not inserted). A record without a time takes the database's."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from artimeta_server.domain.cache.sync_models import CallNodeRecord, ExecutionRecord, JobRecord, RecordBatch, TagRecord
from artimeta_server.storage.cache.values import insert_values

_EXECUTIONS = """
INSERT INTO cache_executions (namespace_id, id, args, job_id, updated_time)
SELECT $1, x.id, x.args::jsonb, x.job_id, coalesce(x.t, now())
FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS x(id, args, job_id, t)
ON CONFLICT DO NOTHING RETURNING 1"""

_JOBS = """
INSERT INTO cache_jobs (namespace_id, id, task_hash, execution_id, parent_id, call_hash, cached, status,
                        start_time, end_time)
SELECT $1, j.id, j.task_hash, j.execution_id, j.parent_id, j.call_hash, j.cached, j.status,
       coalesce(j.start_time, now()), j.end_time
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[], $8::text[],
            $9::timestamptz[], $10::timestamptz[])
     AS j(id, task_hash, execution_id, parent_id, call_hash, cached, status, start_time, end_time)
ON CONFLICT DO NOTHING RETURNING 1"""

_CALL_NODES = """
INSERT INTO cache_call_nodes (namespace_id, call_hash, task_name, task_hash, args_hash, value_hash, create_time)
SELECT $1, c.call_hash, c.task_name, c.task_hash, c.args_hash, c.value_hash, coalesce(c.t, now())
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
     AS c(call_hash, task_name, task_hash, args_hash, value_hash, t)
ON CONFLICT DO NOTHING RETURNING call_hash"""

# Children may arrive later in the same batch, or in a later one: edges are written whether or not
# the child is recorded (unlike RecordCallNode's), for every node of the batch.
_CALL_EDGES = """
INSERT INTO cache_call_edges (namespace_id, parent_hash, child_hash, call_order)
SELECT $1, e.p, e.c, min(e.o) FROM unnest($2::text[], $3::text[], $4::int[]) AS e(p, c, o)
GROUP BY e.p, e.c ON CONFLICT DO NOTHING"""

_SUBTREE_TASKS = """
INSERT INTO cache_call_subtree_tasks (namespace_id, call_hash, task_hash)
SELECT $1, s.c, s.t FROM unnest($2::text[], $3::text[]) AS s(c, t) ON CONFLICT DO NOTHING"""

_ARGUMENTS = """
INSERT INTO cache_arguments (namespace_id, arg_hash, call_hash, value_hash, arg_position, arg_key)
SELECT $1, a.h, a.c, a.v, a.p, a.k FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::text[])
     AS a(h, c, v, p, k)
ON CONFLICT DO NOTHING"""

_ARGUMENT_RESULTS = """
INSERT INTO cache_argument_results (namespace_id, arg_hash, result_call_hash)
SELECT $1, r.a, r.c FROM unnest($2::text[], $3::text[]) AS r(a, c) ON CONFLICT DO NOTHING"""

_TAGS = """
INSERT INTO tags (namespace_id, tag_hash, entity_type, entity_id, key, value, value_json, create_time)
SELECT $1, t.h, t.et, t.eid, t.k, t.v::jsonb, t.v, coalesce(t.ts, now())
FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS t(h, et, eid, k, v, ts)
ON CONFLICT DO NOTHING RETURNING 1"""

_TAG_EDITS = """
INSERT INTO tag_edits (namespace_id, parent_hash, child_hash)
SELECT $1, e.p, e.c FROM unnest($2::text[], $3::text[]) AS e(p, c) ON CONFLICT DO NOTHING"""

# Only tags that nothing supersedes are current (as redun recomputes after a sync). Only the
# batch's tags and the parents they name can have gained a superseding edge: a tag arriving after
# its child meets the edge the child brought.
_SUPERSEDED = """
UPDATE tags t SET is_current = false
WHERE t.namespace_id = $1 AND t.tag_hash = ANY($2::text[]) AND t.is_current
  AND EXISTS (SELECT 1 FROM tag_edits e WHERE e.namespace_id = $1 AND e.parent_hash = t.tag_hash)"""


def _columns(rows: Sequence[tuple[object, ...]]) -> list[list[object]]:
    """Rows as the one array per column that unnest(...) takes."""
    return [list(column) for column in zip(*rows, strict=True)]


async def _insert(
    conn: asyncpg.Connection, sql: str, ns: int, rows: Sequence[tuple[object, ...]]
) -> list[asyncpg.Record]:
    """One set-based INSERT of the rows in the namespace; what it RETURNING-s (nothing when no rows)."""
    if not rows:
        return []
    returned: list[asyncpg.Record] = await conn.fetch(sql, ns, *_columns(rows))
    return returned


async def _executions(conn: asyncpg.Connection, ns: int, rows: tuple[ExecutionRecord, ...]) -> int:
    return len(await _insert(conn, _EXECUTIONS, ns, [(e.id, e.args_json, e.job_id, e.updated_time) for e in rows]))


async def _jobs(conn: asyncpg.Connection, ns: int, rows: tuple[JobRecord, ...]) -> int:
    jobs = [
        (j.id, j.task_hash, j.execution_id, j.parent_id, j.call_hash, j.cached, j.status, j.start_time, j.end_time)
        for j in rows
    ]
    return len(await _insert(conn, _JOBS, ns, jobs))


async def _call_nodes(conn: asyncpg.Connection, ns: int, rows: tuple[CallNodeRecord, ...]) -> int:
    nodes = [(c.call_hash, c.task_name, c.task_hash, c.args_hash, c.value_hash, c.timestamp) for c in rows]
    created = {r[0] for r in await _insert(conn, _CALL_NODES, ns, nodes)}
    edges = [(c.call_hash, child, order) for c in rows for order, child in enumerate(c.children)]
    await _insert(conn, _CALL_EDGES, ns, edges)
    # A node already recorded keeps its subtree and arguments.
    new = [c for c in rows if c.call_hash in created]
    await _insert(conn, _SUBTREE_TASKS, ns, [(c.call_hash, t) for c in new for t in c.subtree_tasks])
    arguments = [(a.arg_hash, c.call_hash, a.value_hash, a.arg_position, a.arg_key) for c in new for a in c.arguments]
    await _insert(conn, _ARGUMENTS, ns, arguments)
    results = [(a.arg_hash, up) for c in new for a in c.arguments for up in a.upstream]
    await _insert(conn, _ARGUMENT_RESULTS, ns, results)
    return len(created)


async def _tags(conn: asyncpg.Connection, ns: int, rows: tuple[TagRecord, ...]) -> int:
    if not rows:
        return 0
    tags = [(t.tag_hash, t.entity_type, t.entity_id, t.key, t.value_json, t.timestamp) for t in rows]
    created = await _insert(conn, _TAGS, ns, tags)
    await _insert(conn, _TAG_EDITS, ns, [(p, t.tag_hash) for t in rows for p in t.parents])
    touched = list(dict.fromkeys(h for t in rows for h in (t.tag_hash, *t.parents)))
    await conn.execute(_SUPERSEDED, ns, touched)
    return len(created)


async def put_records(conn: asyncpg.Connection, ns: int, batch: RecordBatch) -> int:
    """Inserts the batch's records that are absent, in the caller's transaction; returns how many were."""
    created = await insert_values(conn, ns, batch.values)
    created += await _executions(conn, ns, batch.executions)
    created += await _jobs(conn, ns, batch.jobs)
    created += await _call_nodes(conn, ns, batch.call_nodes)
    created += await _tags(conn, ns, batch.tags)
    return created
