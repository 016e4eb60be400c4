"""The cache check in Postgres: every candidate of a batch of concurrent checks in one statement."""

from __future__ import annotations

from collections.abc import Sequence

from artimeta_server.domain.cache.models import CONTEXT_TAG_KEY, CacheCandidate, CacheQuery, HitKind
from artimeta_server.domain.errors import DeadlineExceeded, Unavailable
from artimeta_server.storage.batcher import Batcher
from artimeta_server.storage.cache.values import VALUE_COLUMNS, stored_value
from artimeta_server.storage.postgres import Database

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
SELECT k.i, k.prio, k.call_hash, {VALUE_COLUMNS},
  CASE WHEN k.call_hash IS NOT NULL THEN ARRAY(
    SELECT s.task_hash FROM cache_call_subtree_tasks s WHERE s.namespace_id = $1 AND s.call_hash = k.call_hash
    ORDER BY s.task_hash) END AS subtree
FROM k LEFT JOIN cache_values v ON v.namespace_id = $1 AND v.value_hash = k.value_hash
ORDER BY k.i, k.prio"""
_KINDS: dict[int, HitKind] = {1: "CSE", 2: "ULTIMATE", 3: "SINGLE"}


def _shared_failure(exc: Exception) -> bool:
    """A failure no single check of a batch caused: running each check alone would only fail N times."""
    return isinstance(exc, (Unavailable, DeadlineExceeded))


class PostgresCacheChecks:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._candidates: Batcher[tuple[int, CacheQuery], list[CacheCandidate]] = Batcher(
            self._candidates_batch, shared_failure=_shared_failure
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
                            stored_value(r),
                            list(subtree) if subtree is not None else None,
                        )
                    )
        return out
