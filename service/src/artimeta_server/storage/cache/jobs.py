"""Executions and jobs in Postgres."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg

from artimeta_server.domain.cache.models import JobIn, JobRow
from artimeta_server.domain.fresh import cache_checks_key
from artimeta_server.storage.changes import announce
from artimeta_server.storage.postgres import Database


class PostgresJobs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add_execution(self, ns: int, exec_id: str, args: list[str]) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                """INSERT INTO cache_executions (namespace_id, id, args) VALUES ($1, $2, $3::jsonb)
                   ON CONFLICT DO NOTHING""",
                ns,
                exec_id,
                json.dumps(args),
            )

    async def touch_execution(self, ns: int, exec_id: str) -> bool:
        async with self._db.connection() as conn:
            status: str = await conn.execute(
                "UPDATE cache_executions SET updated_time = now() WHERE namespace_id = $1 AND id = $2", ns, exec_id
            )
        return status != "UPDATE 0"

    async def _job_start(self, conn: asyncpg.Connection, ns: int, job: JobIn) -> None:
        # A job is a check's CSE candidate: every replica forgets its remembered hits at commit.
        await announce(conn, cache_checks_key(ns))
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

    async def start_job(self, ns: int, job: JobIn) -> None:
        async with self._db.transaction() as conn:
            await self._job_start(conn, ns, job)

    async def end_job(self, ns: int, job: JobIn) -> None:
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
