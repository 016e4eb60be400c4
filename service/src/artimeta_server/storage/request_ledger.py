"""The request ledger in Postgres (domain/request_ids/): one row per remembered outcome.

Times come from the server's clock as parameters, not from now() in SQL: Citus refuses a
non-IMMUTABLE function in the DO UPDATE of a distributed table's INSERT."""

from __future__ import annotations

import json
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

from artimeta_server.domain.request_ids.models import Outcome, RememberedError, RequestKey
from artimeta_server.storage.postgres import Database

_KEY = "namespace_id = $1 AND method = $2 AND request_id = $3"


class PostgresRequestLedger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def pinned(self) -> AbstractAsyncContextManager[None]:
        return self._db.pinned()

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        return self._db.unit_of_work()

    async def recall(self, key: RequestKey, max_age_s: float) -> Outcome | None:
        async with self._db.kept_connection() as conn:
            row = await conn.fetchrow(
                "SELECT body_hash, reply, error_kind, error_reason, error_message, error_metadata"
                f" FROM request_ledger WHERE {_KEY} AND create_time > $4",
                key.namespace_id,
                key.method,
                key.request_id,
                _cutoff(max_age_s),
            )
        if row is None:
            return None
        error = None
        if row["error_kind"] is not None:
            error = RememberedError(
                row["error_kind"], row["error_reason"], row["error_message"], json.loads(row["error_metadata"] or "{}")
            )
        return Outcome(
            bytes(row["body_hash"]), reply=None if row["reply"] is None else bytes(row["reply"]), error=error
        )

    async def remember(self, key: RequestKey, outcome: Outcome, max_age_s: float) -> bool:
        err = outcome.error
        now = datetime.now(UTC)
        async with self._db.connection() as conn:
            # An expired row that gc has not deleted yet is taken over; a live one wins.
            inserted = await conn.fetchval(
                """
                INSERT INTO request_ledger AS l (namespace_id, method, request_id, body_hash, reply,
                                                 error_kind, error_reason, error_message, error_metadata,
                                                 create_time)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $11)
                ON CONFLICT (namespace_id, method, request_id) DO UPDATE SET
                    body_hash = EXCLUDED.body_hash, reply = EXCLUDED.reply, error_kind = EXCLUDED.error_kind,
                    error_reason = EXCLUDED.error_reason, error_message = EXCLUDED.error_message,
                    error_metadata = EXCLUDED.error_metadata, create_time = EXCLUDED.create_time
                WHERE l.create_time <= $10
                RETURNING true
                """,
                key.namespace_id,
                key.method,
                key.request_id,
                outcome.body_hash,
                outcome.reply,
                None if err is None else err.kind,
                None if err is None else err.reason,
                None if err is None else err.message,
                None if err is None else json.dumps(dict(err.metadata), sort_keys=True),
                now - timedelta(seconds=max_age_s),
                now,
            )
        return inserted is True

    async def forget_older_than(self, max_age_s: float) -> int:
        async with self._db.connection() as conn:
            status = await conn.execute("DELETE FROM request_ledger WHERE create_time <= $1", _cutoff(max_age_s))
        return int(status.rpartition(" ")[2] or 0)


def _cutoff(max_age_s: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=max_age_s)
