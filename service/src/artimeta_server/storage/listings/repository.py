"""Paged lists of redun executions and chariots ops in Postgres: a keyset page of the main
table first, then per row only index lookups (root job, task name, counts, latest version)."""

from __future__ import annotations

import json
from datetime import datetime

from artimeta_server.domain.listings.models import ExecutionSummary, OpSummary
from artimeta_server.storage.opstore.repository import version_from_row
from artimeta_server.storage.postgres import Database
from artimeta_server.storage.sql import given

# Bounds are written only when present (storage.sql.given), so a deep page costs what the first does.
# Every table is filtered by the namespace parameter itself, not by a join column: so Citus
# prunes each to the namespace's shard and runs the whole statement there (a router query).
_EXECUTIONS = """
SELECT e.id, e.args, e.create_time, e.updated_time, e.job_id,
       j.task_hash, j.start_time, j.end_time, j.status,
       (SELECT c.task_name FROM cache_call_nodes c
         WHERE c.namespace_id = $1 AND c.task_hash = j.task_hash LIMIT 1) AS task_name,
       n.jobs, n.cached
  FROM (SELECT * FROM cache_executions WHERE namespace_id = $1{after}
         ORDER BY create_time DESC, id DESC LIMIT $2) e
  LEFT JOIN cache_jobs j ON j.namespace_id = $1 AND j.id = e.job_id
  CROSS JOIN LATERAL (SELECT count(*) AS jobs, count(*) FILTER (WHERE x.cached) AS cached FROM cache_jobs x
                       WHERE x.namespace_id = $1 AND x.execution_id = e.id) n
 ORDER BY e.create_time DESC, e.id DESC
"""

# Names in byte order (COLLATE "C"): the same order in every database locale, and the names with
# a prefix are one range of the index.
_OPS = """
SELECT o.name, n.versions, l.major_hash, l.minor_hash, l.patch_hash, l.creation_time,
       l.major_number, l.minor_number, l.patch_number
  FROM (SELECT id, name FROM opstore_ops WHERE namespace_id = $1{bounds}
         ORDER BY name COLLATE "C" LIMIT $2) o
  CROSS JOIN LATERAL (SELECT count(*) AS versions FROM opstore_versions v
                       WHERE v.namespace_id = $1 AND v.op_id = o.id) n
  LEFT JOIN LATERAL (SELECT * FROM opstore_versions v WHERE v.namespace_id = $1 AND v.op_id = o.id
                      ORDER BY v.major_number DESC, v.minor_number DESC, v.patch_number DESC LIMIT 1) l ON true
 ORDER BY o.name COLLATE "C"
"""


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix`, in code point (= UTF-8 byte,
    = COLLATE "C") order; None when there is none (empty prefix, or only U+10FFFF)."""
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return None
    nxt = ord(stem[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not characters Postgres can store
        nxt = 0xE000
    return stem[:-1] + chr(nxt)


class PostgresListings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def executions(self, ns: int, after: tuple[datetime, str] | None, limit: int) -> list[ExecutionSummary]:
        args: list[object] = [ns, limit]
        bounds = given(args, ("(create_time, id) < ({}, {})", after))
        async with self._db.connection() as conn:
            rows = await conn.fetch(_EXECUTIONS.format(after=bounds), *args)
        return [
            ExecutionSummary(
                id=r["id"],
                args=[str(a) for a in json.loads(r["args"])],
                create_time=r["create_time"],
                updated_time=r["updated_time"],
                root_job_id=r["job_id"],
                root_task_hash=r["task_hash"],
                root_task_name=r["task_name"],
                start_time=r["start_time"],
                end_time=r["end_time"],
                status=r["status"],
                job_count=r["jobs"],
                cached_job_count=r["cached"],
            )
            for r in rows
        ]

    async def ops(self, ns: int, prefix: str, after: str | None, limit: int) -> list[OpSummary]:
        end = prefix_end(prefix)
        args: list[object] = [ns, limit]
        bounds = given(
            args,
            ('name COLLATE "C" >= {}', (prefix,) if prefix else None),
            ('name COLLATE "C" < {}', None if end is None else (end,)),
            ('name COLLATE "C" > {}', None if after is None else (after,)),
        )
        async with self._db.connection() as conn:
            rows = await conn.fetch(_OPS.format(bounds=bounds), *args)
        return [
            OpSummary(
                name=r["name"],
                version_count=r["versions"],
                latest=None if r["major_hash"] is None else version_from_row(r),
            )
            for r in rows
        ]
