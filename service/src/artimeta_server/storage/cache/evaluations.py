"""The evaluation cache in Postgres: an evaluation hash's value, pointed at a recorded value."""

from __future__ import annotations

from artimeta_server.domain.cache.models import StoredValue
from artimeta_server.domain.fresh import cache_checks_key
from artimeta_server.storage.cache.values import insert_values
from artimeta_server.storage.changes import announce
from artimeta_server.storage.postgres import Database


class PostgresEvaluations:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_eval_cache(
        self, ns: int, eval_hash: str, task_hash: str, args_hash: str, value_hash: str, value: StoredValue | None
    ) -> bool:
        async with self._db.transaction() as conn:
            if value is not None:
                await insert_values(conn, ns, [value])
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
            if done:
                # Delivered at commit: every replica forgets the namespace's remembered hits.
                await announce(conn, cache_checks_key(ns))
        return bool(done)
