"""redun's sync records read from the rows of the cache tables and tags: the records of given
ids, which ids exist, and the ids one layer below."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from artimeta_server.domain.cache.sync_models import (
    ArgumentRecord,
    CallNodeRecord,
    ExecutionRecord,
    JobRecord,
    SyncRecord,
    TagRecord,
)
from artimeta_server.storage.cache.values import fetch_values

_EXECUTIONS = "SELECT * FROM cache_executions WHERE namespace_id = $1 AND id = ANY($2::text[])"
_JOBS = """SELECT j.*, ARRAY(SELECT c.id FROM cache_jobs c WHERE c.namespace_id = $1 AND c.parent_id = j.id
                     ORDER BY c.start_time, c.id) AS children
   FROM cache_jobs j WHERE j.namespace_id = $1 AND j.id = ANY($2::text[])"""
_CALL_NODES = """SELECT c.*,
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
   FROM cache_call_nodes c WHERE c.namespace_id = $1 AND c.call_hash = ANY($2::text[])"""
_TAGS = """SELECT t.*, ARRAY(SELECT parent_hash FROM tag_edits e WHERE e.namespace_id = $1 AND e.child_hash = t.tag_hash
                     ORDER BY 1) AS parents
   FROM tags t WHERE t.namespace_id = $1 AND t.tag_hash = ANY($2::text[])"""

_KNOWN = """SELECT i FROM unnest($2::text[]) WITH ORDINALITY AS x(i, o)
   WHERE EXISTS (SELECT 1 FROM cache_executions WHERE namespace_id = $1 AND id = i)
      OR EXISTS (SELECT 1 FROM cache_jobs WHERE namespace_id = $1 AND id = i)
      OR EXISTS (SELECT 1 FROM cache_call_nodes WHERE namespace_id = $1 AND call_hash = i)
      OR EXISTS (SELECT 1 FROM cache_values WHERE namespace_id = $1 AND value_hash = i)
      OR EXISTS (SELECT 1 FROM tags WHERE namespace_id = $1 AND tag_hash = i)
   ORDER BY o"""
# What each record owns, as redun walks it: an execution its root job; a job its task, call and
# child jobs; a call node its task, value, argument values, upstream calls and children; any
# record its tags, and a tag its edits both ways.
_CHILDREN = """
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
UNION ALL SELECT t.tag_hash FROM tags t JOIN i ON t.entity_id = i.id WHERE t.namespace_id = $1"""


def _execution(r: asyncpg.Record) -> ExecutionRecord:
    return ExecutionRecord(r["id"], r["args"], r["job_id"], r["updated_time"])


def _job(r: asyncpg.Record) -> JobRecord:
    return JobRecord(
        id=r["id"],
        task_hash=r["task_hash"],
        execution_id=r["execution_id"],
        parent_id=r["parent_id"],
        call_hash=r["call_hash"],
        cached=r["cached"],
        status=r["status"],
        start_time=r["start_time"],
        end_time=r["end_time"],
        children=tuple(r["children"]),
    )


def _call_node(r: asyncpg.Record) -> CallNodeRecord:
    return CallNodeRecord(
        call_hash=r["call_hash"],
        task_name=r["task_name"],
        task_hash=r["task_hash"],
        args_hash=r["args_hash"],
        value_hash=r["value_hash"],
        timestamp=r["create_time"],
        children=tuple(r["children"]),
        subtree_tasks=tuple(r["subtree"]),
        arguments=tuple(
            ArgumentRecord(a["arg_hash"], a["value_hash"], a["arg_position"], a["arg_key"], tuple(a["upstream"]))
            for a in json.loads(r["arguments"])
        ),
    )


def _tag(r: asyncpg.Record) -> TagRecord:
    return TagRecord(
        tag_hash=r["tag_hash"],
        entity_type=r["entity_type"],
        entity_id=r["entity_id"],
        key=r["key"],
        value_json=r["value_json"],
        parents=tuple(r["parents"]),
        timestamp=r["create_time"],
    )


async def get_records(conn: asyncpg.Connection, ns: int, ids: Sequence[str]) -> list[SyncRecord]:
    """The records of the ids, by kind: executions, jobs, call nodes, values, tags."""
    wanted = list(ids)
    out: list[SyncRecord] = [_execution(r) for r in await conn.fetch(_EXECUTIONS, ns, wanted)]
    out += [_job(r) for r in await conn.fetch(_JOBS, ns, wanted)]
    out += [_call_node(r) for r in await conn.fetch(_CALL_NODES, ns, wanted)]
    out += await fetch_values(conn, ns, wanted)
    out += [_tag(r) for r in await conn.fetch(_TAGS, ns, wanted)]
    return out


async def known_record_ids(conn: asyncpg.Connection, ns: int, ids: Sequence[str]) -> list[str]:
    """Those of the ids some record has, in the order given."""
    return [r[0] for r in await conn.fetch(_KNOWN, ns, list(ids))]


async def child_record_ids(conn: asyncpg.Connection, ns: int, ids: Sequence[str]) -> list[str]:
    found = [r[0] for r in await conn.fetch(_CHILDREN, ns, list(ids))]
    return await known_record_ids(conn, ns, list(dict.fromkeys(found))) if found else []
