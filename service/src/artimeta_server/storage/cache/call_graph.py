"""The call graph in Postgres: call nodes with their edges, subtree tasks and arguments."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from artimeta_server.domain.cache.models import CallNodeIn, CallNodeRow, CallRef, StoredValue
from artimeta_server.domain.fresh import cache_checks_key
from artimeta_server.storage.cache.values import insert_values
from artimeta_server.storage.changes import announce
from artimeta_server.storage.postgres import Database


async def _insert_call_node(conn: asyncpg.Connection, ns: int, node: CallNodeIn) -> None:
    created = await conn.fetchval(
        """INSERT INTO cache_call_nodes (namespace_id, call_hash, task_name, task_hash, args_hash, value_hash,
                                        create_time)
           VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT DO NOTHING RETURNING true""",
        ns,
        node.call_hash,
        node.task_name,
        node.task_hash,
        node.args_hash,
        node.value_hash,
    )
    if not created:
        return
    # A new call node can be a check's newer CSE or ULTIMATE candidate (domain/cache/check_memo.py).
    await announce(conn, cache_checks_key(ns))
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


class PostgresCallGraph:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_call_node(self, ns: int, node: CallNodeIn, values: Sequence[StoredValue]) -> None:
        async with self._db.transaction() as conn:
            await insert_values(conn, ns, values)
            await _insert_call_node(conn, ns, node)

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

    async def newest_call_with_args(self, ns: int, task_name: str, args_hash: str) -> CallRef | None:
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                """SELECT call_hash, task_hash, args_hash FROM cache_call_nodes
                   WHERE namespace_id = $1 AND args_hash = $2 AND task_name = $3
                   ORDER BY create_time DESC LIMIT 1""",
                ns,
                args_hash,
                task_name,
            )
        return None if r is None else CallRef(r[0], r[1], r[2])

    async def newest_call_of_task(self, ns: int, task_hash: str) -> CallRef | None:
        async with self._db.connection() as conn:
            r = await conn.fetchrow(
                """SELECT call_hash, task_hash, args_hash FROM cache_call_nodes
                   WHERE namespace_id = $1 AND task_hash = $2 ORDER BY create_time DESC LIMIT 1""",
                ns,
                task_hash,
            )
        return None if r is None else CallRef(r[0], r[1], r[2])
